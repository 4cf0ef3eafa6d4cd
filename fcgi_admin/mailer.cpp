#include "sg/clock.hpp"
#include "mailer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "sg/mail.hpp"

extern char** environ;

namespace sg::admin {

namespace {

// A sendmail run: its pid, the pipe to its standard input and the one from its output.
struct Child {
  pid_t pid = 0;
  int input = -1;
  int output = -1;
};

// Starts `args` with its input and output on pipes; "" or why it could not.
std::string spawn(const std::string& program, std::vector<std::string> args, Child& child) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return std::string("pipe: ") + std::strerror(errno);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = posix_spawn(&child.pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    return "cannot run " + program + ": " + std::strerror(rc);
  }
  child.input = in[1];
  child.output = out[0];
  return "";
}

// Writes the message to the child while reading what it says (at most 2,000 bytes kept),
// until it closes its output or the deadline passes; closes both pipes. Returns the bytes written.
std::size_t exchange(Child& child, const std::string& message, Micros deadline, std::string& output) {
  fcntl(child.input, F_SETFL, O_NONBLOCK);
  std::size_t written = 0;
  bool in_open = true, out_open = true;
  if (message.empty()) {
    close(child.input);
    in_open = false;
  }
  while (out_open && sg::monotonic_micros() < deadline) {
    pollfd fds[2];
    int n = 0;
    if (in_open) fds[n++] = {child.input, POLLOUT, 0};
    fds[n++] = {child.output, POLLIN, 0};
    int timeout_ms = static_cast<int>(std::max<Micros>(1, (deadline - sg::monotonic_micros()) / 1000));
    if (poll(fds, n, std::min(timeout_ms, 1000)) < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (fds[i].fd == child.input && (fds[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t w = write(child.input, message.data() + written, message.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        bool broken = w < 0 && errno != EAGAIN && errno != EINTR;  // EPIPE: the program quit before reading it all
        if (written >= message.size() || broken) {
          close(child.input);
          in_open = false;
        }
      } else if (fds[i].fd == child.output && (fds[i].revents & (POLLIN | POLLERR | POLLHUP))) {
        char buffer[1024];
        ssize_t r = read(child.output, buffer, sizeof buffer);
        if (r > 0) {
          if (output.size() < 2000) output.append(buffer, static_cast<std::size_t>(r));
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          out_open = false;
        }
      }
    }
  }
  if (in_open) close(child.input);
  close(child.output);
  return written;
}

}  // namespace

SendResult run_sendmail(const std::string& program, const std::string& from, const std::string& to,
                        const std::string& message, Micros timeout) {
  // A program that quits early must give us EPIPE, not kill this process (fcgi_admin never
  // relies on SIGPIPE; libfcgi ignores it too).
  static const bool sigpipe_ignored = [] { return signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
  (void)sigpipe_ignored;
  if (!mail::valid_address(to)) return {false, "invalid recipient address"};
  if (access(program.c_str(), X_OK) != 0) return {false, "cannot run " + program + ": " + std::strerror(errno)};
  std::string safe_from = mail::header_text(from);
  std::vector<std::string> args = {program, "-i"};
  if (mail::valid_address(safe_from)) {
    args.push_back("-f");
    args.push_back(safe_from);
  }
  args.push_back("--");
  args.push_back(to);
  Child child;
  if (std::string error = spawn(program, std::move(args), child); !error.empty()) return {false, error};
  const Micros deadline = sg::monotonic_micros() + timeout;
  std::string output;
  const std::size_t written = exchange(child, message, deadline, output);
  int status = 0;
  pid_t waited = 0;
  while ((waited = waitpid(child.pid, &status, WNOHANG)) == 0 && sg::monotonic_micros() < deadline) usleep(10000);
  if (waited == 0) {
    kill(child.pid, SIGKILL);
    waitpid(child.pid, &status, 0);
    return {false, program + " did not finish within " + std::to_string(timeout / kMicrosPerSecond) + " s; killed"};
  }
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    if (written < message.size()) return {false, program + " exited before reading the whole message"};
    return {true, ""};
  }
  std::string why = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                      : "killed by signal " + std::to_string(WTERMSIG(status));
  return {false, program + " failed (" + why + ")" + (output.empty() ? "" : ": " + mail::header_text(output))};
}

DeliveryReport deliver_due(db::AdminQueries& queries, const Settings& settings,
                           const std::function<void(const std::string&)>& log, std::size_t limit) {
  DeliveryReport report;
  // The lease outlives one sendmail run, so a crashed process's claim expires and another retries.
  auto claimed = queries.claim_due_mail(limit, settings.mail_timeout + 60 * kMicrosPerSecond);
  for (const auto& mail : claimed) {
    std::string message_id = std::to_string(mail.id) + "." + std::to_string(mail.created_at) + "@session-guard";
    std::string text = mail::format_message(settings.mail_from, mail.recipient, mail.subject, mail.body, sg::wall_clock_micros(), message_id);
    SendResult sent = run_sendmail(settings.sendmail, settings.mail_from, mail.recipient, text, settings.mail_timeout);
    if (sent.ok) {
      queries.mark_sent(mail.id);
      report.sent += 1;
      log("mail #" + std::to_string(mail.id) + " (" + mail.kind + ") to " + mail.recipient + " sent");
    } else {
      bool give_up = mail.attempts >= settings.mail_max_attempts;
      Micros delay = mail::retry_delay(mail.attempts, settings.mail_retry_base, settings.mail_retry_max);
      queries.mark_failed(mail.id, sent.error, delay, give_up);
      if (give_up) report.failed += 1;
      else report.retrying += 1;
      log("mail #" + std::to_string(mail.id) + " to " + mail.recipient + " attempt " + std::to_string(mail.attempts) +
          " failed: " + sent.error + (give_up ? "; giving up" : "; retrying in " + std::to_string(delay / kMicrosPerSecond) + " s"));
    }
  }
  return report;
}

}  // namespace sg::admin
