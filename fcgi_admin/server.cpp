#include "server.hpp"

#include <fcgiapp.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <memory>

#include "admin_queries.hpp"
#include "app.hpp"
#include "backend.hpp"
#include "fcgi_request.hpp"
#include "mailer.hpp"

namespace sg::admin {

namespace {
volatile sig_atomic_t g_stop = 0;
// Only flags: libfcgi's accept() retries on EINTR unless shutdown is pending, so tell it too
// (FCGX_ShutdownPending only sets a flag as well).
extern "C" void on_stop_signal(int) {
  g_stop = 1;
  FCGX_ShutdownPending();
}

void log_line(const std::string& line) {
  std::cerr << "session_guard admin: " << line << std::endl;
}
}  // namespace

db::ConnectOptions connect_options(const Settings& settings) {
  db::ConnectOptions options;
  options.option_file = settings.db_options_file;
  options.group = settings.db_group;
  return options;
}

AdminService admin_service(const Settings& settings) {
  return AdminService(connect_options(settings), settings.policy, 3 * settings.sample_interval);
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocked accept() returns so the loop can end
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() { return g_stop != 0; }

bool Worker::run_once(bool sample) {
  try {
    db::Connection connection(connect_options(settings_));
    db::AdminQueries queries(connection);
    deliver_due(queries, settings_, log_line);
    if (sample) queries.activity(settings_.sample_interval, false);
    if (!last_error_.empty()) log_line("database reachable again");
    last_error_.clear();
    return true;
  } catch (const StoreError& e) {
    std::string error = e.what();
    if (error != last_error_) log_line("background work skipped: " + error);  // once per distinct error
    last_error_ = error;
    return false;
  }
}

void Worker::start() { thread_ = std::thread([this] { loop(); }); }

void Worker::wake() {
  std::lock_guard<std::mutex> lock(mutex_);
  woken_ = true;
  cv_.notify_one();
}

void Worker::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void Worker::loop() {
  std::unique_ptr<db::Connection> connection;
  bool after_change = false;
  for (;;) {
    try {
      if (!connection) connection = std::make_unique<db::Connection>(connect_options(settings_));
      db::AdminQueries queries(*connection);
      deliver_due(queries, settings_, log_line);
      // After an action the counts changed: sample now so the header shows it.
      queries.activity(settings_.sample_interval, after_change);
      if (!last_error_.empty()) log_line("database reachable again");
      last_error_.clear();
    } catch (const StoreError& e) {
      connection.reset();
      std::string error = e.what();
      if (error != last_error_) log_line("background work skipped: " + error);
      last_error_ = error;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, std::chrono::microseconds(settings_.mail_interval), [this] { return stopping_ || woken_; });
    if (stopping_) return;
    after_change = woken_;
    woken_ = false;
  }
}

int serve(const Settings& settings) {
  if (FCGX_IsCGI()) {
    std::cerr << "fcgi_admin: no FastCGI socket on standard input. Start it from the web server (mod_fcgid) or with\n"
                 "  spawn-fcgi -a 127.0.0.1 -p 9000 -- fcgi_admin\n"
                 "or give a command (fcgi_admin help).\n";
    return 1;
  }
  FCGX_Init();  // installs libfcgi's own handlers first; ours replace them
  install_stop_handlers();
  FCGX_Request request;
  FCGX_InitRequest(&request, 0, 0);
  Worker worker(settings);
  worker.start();
  AdminService backend = admin_service(settings);
  App app(settings, backend);
  app.on_change = [&worker] { worker.wake(); };
  log_line("FastCGI responder started (pid " + std::to_string(getpid()) + ", options " + settings.db_options_file + ")");
  while (!g_stop) {
    if (FCGX_Accept_r(&request) < 0) break;
    FcgiRequest wrapped(request);
    app.handle(wrapped);
    FCGX_Finish_r(&request);
  }
  worker.stop();
  log_line("FastCGI responder stopped (pid " + std::to_string(getpid()) + ")");
  return 0;
}

}  // namespace sg::admin
