// The admin application: routing, authorisation, pages, JSON API. Independent of FastCGI
// (it sees a Request) and of MariaDB (it sees a Backend), so all of it is unit-tested.
// A request goes route table -> handler -> (for a change) a command of commands.hpp ->
// the handler's renderer: an HTML page or redirect, or JSON.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "http.hpp"
#include "request.hpp"
#include "settings.hpp"

namespace sg::admin {

class JwksCache;  // sso.hpp

class App {
 public:
  App(Settings settings, Backend& backend);
  ~App();
  // Handles one request and sends the response; never throws.
  void handle(Request& request) noexcept;
  // Builds the response without sending it (what handle() sends); never throws.
  Response respond(Request& request) noexcept;
  // Called after every action that changed something (wakes the mail sender).
  std::function<void()> on_change;
  const Settings& settings() const { return settings_; }

  struct Context;  // one request being handled (context.hpp)

 private:
  struct Route;
  static const std::vector<Route>& routes();  // routes.cpp: path and method to handler
  Response route(Context& ctx);
  void authorise_admin(Context& ctx);
  void identify_self(Context& ctx);

  // Handlers, one file each group: pages_sessions.cpp, pages_users_audit.cpp, confirm.cpp,
  // actions.cpp (forms), api.cpp, self_service.cpp, routes.cpp (the rest).
  Response home(Context& ctx);
  Response static_file(Context& ctx);
  Response not_found(Context& ctx);
  Response sessions_page(Context& ctx);
  Response users_page(Context& ctx);
  Response audit_page(Context& ctx);
  Response confirm_page(Context& ctx);
  Response action(Context& ctx);
  Response api_sessions(Context& ctx);
  Response api_users(Context& ctx);
  Response api_audit(Context& ctx);
  Response api_outbox(Context& ctx);
  Response api_health(Context& ctx);
  Response health_page(Context& ctx);
  Response api_command(Context& ctx);
  Response my_sessions(Context& ctx);
  Response my_sessions_sign_out(Context& ctx);
  Response wasnt_me(Context& ctx);
  Response oidc_logout(Context& ctx);  // sso.cpp
  Response cas_logout(Context& ctx);

  // Renderers and what the handlers share.
  Response html(Context& ctx, const std::string& title, const std::string& active, const std::string& content,
                int status = 200, int refresh = 0);
  Response redirect(const std::string& location, int status = 303);
  Response error_response(Context& ctx, int status, const std::string& code, const std::string& message);
  std::string csrf_field(Context& ctx);
  void require_csrf(Context& ctx, const std::vector<std::pair<std::string, std::string>>& form);
  std::vector<std::pair<std::string, std::string>> read_form(Context& ctx);
  std::string confirm_form(Context& ctx, const std::string& action, const std::string& fields,
                           const std::string& button, bool danger);
  void changed(Context& ctx, const ActionResult& result);

  Settings settings_;
  Backend& backend_;
  std::unique_ptr<JwksCache> jwks_;  // the OIDC provider's keys, loaded on first use
};

}  // namespace sg::admin
