// The forms' face of the commands: POST /actions/NAME from a confirmation page. It checks the
// CSRF token, hands the form's fields to the command and answers with a redirect to a page
// showing the notice, a second confirmation for the admin's own sessions, or an error page.
#include "context.hpp"
#include "html.hpp"

namespace sg::admin {

Response App::action(Context& ctx) {
  const Command& command = *ctx.command;
  Form form = read_form(ctx);
  require_csrf(ctx, form);
  Inputs inputs;
  for (const auto& p : command.params) {
    auto given = fields(form, p.field);
    if (!given.empty()) inputs[p.key] = given;
  }
  Outcome outcome = run_command(backend_, command, inputs, ctx.actor(), field(form, "confirm_self") == "1");
  if (outcome.code == "own_session") {
    // Ending one's own session is allowed, but only when asked twice: the same form again.
    std::string again;
    for (const auto& p : command.params)
      for (const auto& value : fields(form, p.field))
        again += "<input type=\"hidden\" name=\"" + h(p.field) + "\" value=\"" + h(value) + "\">\n";
    again += "<input type=\"hidden\" name=\"confirm_self\" value=\"1\">\n";
    std::string out = "<div class=\"confirm\"><h1>This includes your own session</h1>\n<div class=\"warning\" role=\"alert\">" +
                      h(outcome.message + " Nothing has been changed yet. Confirm again to go ahead.") + "</div>\n" +
                      confirm_form(ctx, command.name, again, "Yes, end it", true) + "</div>\n";
    return html(ctx, "Confirm again", "", out, 409);
  }
  if (!outcome.ok()) throw HttpError(outcome.status, outcome.code, outcome.message);
  changed(ctx, outcome.done.result);
  const std::string back = command.back != nullptr ? command.back : field(form, "back") == "users" ? "users" : "sessions";
  return redirect(url_with(settings_.prefix + "/" + back,
                           {{"notice", command.notice},
                            {"n", std::to_string(outcome.done.result.sessions_ended)},
                            {"u", outcome.done.user},
                            {"m", outcome.done.result.mails_queued > 0 ? "1" : ""}}));
}

}  // namespace sg::admin
