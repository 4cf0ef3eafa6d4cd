// FastCGI responder mode and the background worker (mail delivery, activity samples).
#pragma once
#include <condition_variable>
#include <mutex>
#include <thread>

#include "admin_service.hpp"
#include "settings.hpp"

namespace sg::admin {

// Sends due mail and takes activity samples every settings.mail_interval, and at once when
// woken after an action. Owns its own database connection; survives the database going away.
class Worker {
 public:
  explicit Worker(const Settings& settings) : settings_(settings) {}
  ~Worker() { stop(); }
  void start();
  void wake();
  void stop();
  // One round, in the caller's thread (the deliver-mail command). Returns false on a database error.
  bool run_once(bool sample);

 private:
  void loop();
  const Settings& settings_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::string last_error_;
};

// The database account and option group fcgi_admin uses, and a Backend on it.
db::ConnectOptions connect_options(const Settings& settings);
AdminService admin_service(const Settings& settings);

// Serves FastCGI requests on the socket the web server (mod_fcgid) or spawn-fcgi handed us
// as file descriptor 0, until SIGTERM/SIGINT/SIGUSR1. Returns the exit status.
int serve(const Settings& settings);

// Installs handlers that only set a flag (and interrupt accept()).
void install_stop_handlers();
bool stop_requested();

}  // namespace sg::admin
