#include "html.hpp"

#include <cstdio>
#include <ctime>

#include "sg/clock.hpp"
#include "sg/text.hpp"

namespace sg::admin {

std::string h(std::string_view text) { return sg::html_escape(text); }

std::string format_time(Micros micros) { return micros == 0 ? "-" : sg::format_utc(micros, "%Y-%m-%d %H:%M:%S"); }

std::string format_iso(Micros micros) { return micros == 0 ? "" : sg::format_utc(micros, "%Y-%m-%dT%H:%M:%SZ"); }

std::string format_duration(Micros micros) {
  if (micros < 0) micros = 0;
  long long s = micros / kMicrosPerSecond;
  char buffer[48];
  if (s >= 86400) std::snprintf(buffer, sizeof buffer, "%lldd %02lldh", s / 86400, (s % 86400) / 3600);
  else if (s >= 3600) std::snprintf(buffer, sizeof buffer, "%lldh %02lldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60) std::snprintf(buffer, sizeof buffer, "%lldm %02llds", s / 60, s % 60);
  else std::snprintf(buffer, sizeof buffer, "%llds", s);
  return buffer;
}

std::string format_count(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

const char* const kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

std::string page(const PageFrame& frame, std::string_view content) {
  const std::string& p = frame.prefix;
  auto nav = [&](const char* key, const char* label) {
    std::string cls = frame.active == key ? " aria-current=\"page\"" : "";
    return "<a href=\"" + h(p + "/" + key) + "\"" + cls + ">" + label + "</a>";
  };
  std::string out;
  out.reserve(content.size() + 2048);
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<meta name=\"referrer\" content=\"same-origin\">\n<title>";
  out += h(frame.title) + " · Session Guard</title>\n";
  out += "<link rel=\"stylesheet\" href=\"" + h(p) + "/static/admin.css\">\n";
  out += "<script src=\"" + h(p) + "/static/admin.js\" defer></script>\n</head>\n";
  out += "<body";
  if (frame.refresh_seconds > 0) out += " data-refresh=\"" + std::to_string(frame.refresh_seconds) + "\"";
  out += ">\n<header class=\"top\"><a class=\"brand\" href=\"" + h(p) + (frame.self_service ? "/my-sessions" : "/sessions") +
         "\">Session Guard</a>\n";
  if (!frame.user.empty()) {
    out += "<nav aria-label=\"Main\">" + nav("sessions", "Sessions") + nav("users", "Users") + nav("audit", "Audit") +
           nav("health", "Health") + "</nav>\n<span class=\"who\">Signed in as <strong>" + h(frame.user) + "</strong></span>\n";
  }
  out += "</header>\n<main id=\"main\">\n";
  out += content;
  out += "</main>\n</body>\n</html>\n";
  return out;
}

const char* const kAdminCss = R"CSS(
:root { --fg: #1d2430; --muted: #5b6472; --line: #d8dde4; --bg: #f6f7f9; --card: #fff; --accent: #1f5fbf;
  --danger: #b42318; --ok: #067647; --warn: #a15c07; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); font-size: 15px; line-height: 1.45; }
a { color: var(--accent); }
header.top { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; padding: .6rem 1rem;
  background: #16213a; color: #fff; }
header.top a { color: #fff; text-decoration: none; }
header.top .brand { font-weight: 700; font-size: 1.1rem; }
header.top nav { display: flex; gap: 1rem; }
header.top nav a { padding: .2rem .1rem; border-bottom: 2px solid transparent; }
header.top nav a[aria-current] { border-bottom-color: #8fb4ff; }
header.top .who { margin-left: auto; font-size: .9rem; opacity: .9; }
main { padding: 1rem; max-width: 1400px; margin: 0 auto; }
h1 { font-size: 1.4rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.notice, .error, .warning { padding: .7rem 1rem; border-radius: 6px; margin: 0 0 1rem; border: 1px solid; }
.notice { background: #ecfdf3; border-color: #abefc6; color: var(--ok); }
.error { background: #fef3f2; border-color: #fecdca; color: var(--danger); }
.warning { background: #fffaeb; border-color: #fedf89; color: var(--warn); }
.stats { display: flex; flex-wrap: wrap; gap: 1rem; margin-bottom: 1rem; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .6rem 1rem; min-width: 9rem; }
.stat .n { font-size: 1.6rem; font-weight: 700; display: block; }
.stat .l { color: var(--muted); font-size: .85rem; }
.stat.chart { flex: 1 1 260px; }
.chart svg { width: 100%; height: 48px; display: block; }
.chart rect { fill: #7aa2e3; }
.chart rect.now { fill: var(--accent); }
form.filters { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin-bottom: .8rem; }
label { font-size: .9rem; color: var(--muted); display: inline-flex; flex-direction: column; gap: .15rem; }
input, select, textarea, button { font: inherit; }
input[type=text], input[type=search], select, textarea { padding: .35rem .5rem; border: 1px solid #b9c0ca; border-radius: 5px; background: #fff; color: var(--fg); }
textarea { width: 100%; min-height: 8rem; }
button, .button { display: inline-block; padding: .4rem .85rem; border-radius: 5px; border: 1px solid #9aa4b2; background: #fff;
  color: var(--fg); cursor: pointer; text-decoration: none; font-size: .92rem; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button.danger, .button.danger { background: var(--danger); color: #fff; border-color: var(--danger); }
.table-wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f5; white-space: nowrap; font-weight: 600; }
th a { color: var(--fg); text-decoration: none; }
th a:hover { text-decoration: underline; }
td.actions { white-space: nowrap; }
td.actions a { margin-right: .5rem; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .88em; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: 999px; font-size: .75rem; background: #e4e7ec; color: #344054; }
.badge.admin { background: #e0eaff; color: #1d3fa0; }
.badge.blocked { background: #fee4e2; color: var(--danger); }
.badge.active { background: #dcfae6; color: var(--ok); }
.muted { color: var(--muted); }
.ua { display: block; color: var(--muted); font-size: .78rem; min-width: 11rem; max-width: 18rem; overflow-wrap: anywhere; }
.pager { display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; margin: .8rem 0; }
.bulk { display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; margin: .6rem 0; }
.bulk .spacer { flex: 1; }
td form.inline { margin: 0; }
.this-device { font-weight: 600; color: var(--ok); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; background: var(--card);
  border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.confirm { max-width: 46rem; }
.confirm form { margin-top: 1rem; display: flex; flex-direction: column; gap: .8rem; }
.confirm .buttons { display: flex; gap: .6rem; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 700px) {
  main { padding: .6rem; }
  th.opt, td.opt { display: none; }
  header.top .who { margin-left: 0; }
}
)CSS";

// Auto-refresh of the sessions page without losing the selection, and "select all".
const char* const kAdminJs = R"JS(
(function () {
  'use strict';
  var KEY = 'sg-selected';
  function selected() {
    try { return new Set(JSON.parse(sessionStorage.getItem(KEY) || '[]')); } catch (e) { return new Set(); }
  }
  function save(set) { try { sessionStorage.setItem(KEY, JSON.stringify(Array.from(set))); } catch (e) {} }
  function boxes() { return document.querySelectorAll('input.pick[type=checkbox]'); }
  function restore() {
    var set = selected();
    boxes().forEach(function (b) { b.checked = set.has(b.value); });
    updateCount();
  }
  function updateCount() {
    var n = 0;
    boxes().forEach(function (b) { if (b.checked) n++; });
    var out = document.getElementById('selected-count');
    if (out) out.textContent = n ? n + ' selected' : '';
  }
  document.addEventListener('change', function (ev) {
    var t = ev.target;
    if (!(t instanceof HTMLInputElement)) return;
    var set = selected();
    if (t.classList.contains('pick')) {
      if (t.checked) set.add(t.value); else set.delete(t.value);
      save(set);
      updateCount();
    } else if (t.id === 'pick-all') {
      boxes().forEach(function (b) { b.checked = t.checked; if (t.checked) set.add(b.value); else set.delete(b.value); });
      save(set);
      updateCount();
    }
  });
  document.addEventListener('submit', function (ev) {
    if (ev.target && ev.target.classList && ev.target.classList.contains('done-selection')) save(new Set());
  });
  function refresh() {
    var tbody = document.getElementById('sessions-body');
    if (!tbody || document.hidden) return;
    fetch(window.location.href, { credentials: 'same-origin', headers: { 'X-Requested-With': 'fetch' } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, 'text/html');
        ['sessions-body', 'stats', 'pager-summary'].forEach(function (id) {
          var fresh = doc.getElementById(id), old = document.getElementById(id);
          if (fresh && old) old.replaceWith(document.importNode(fresh, true));
        });
        restore();
        var stamp = document.getElementById('refreshed');
        if (stamp) stamp.textContent = 'Updated ' + new Date().toLocaleTimeString();
      })
      .catch(function () {
        var stamp = document.getElementById('refreshed');
        if (stamp) stamp.textContent = 'Refresh failed; retrying';
      });
  }
  document.addEventListener('DOMContentLoaded', function () {
    restore();
    var seconds = parseInt(document.body.getAttribute('data-refresh') || '0', 10);
    if (seconds > 0 && document.getElementById('sessions-body')) setInterval(refresh, seconds * 1000);
  });
})();
)JS";

std::string table_start(std::string_view caption, std::initializer_list<Heading> headings, std::string_view body_id) {
  std::string out = "<div class=\"table-wrap\"><table><caption class=\"sr-only\">" + h(caption) + "</caption><thead><tr>";
  for (const auto& heading : headings)
    out += std::string("<th scope=\"col\"") + (heading.optional ? " class=\"opt\"" : "") + ">" + h(heading.label) + "</th>";
  out += "</tr></thead><tbody";
  if (!body_id.empty()) out += " id=\"" + h(body_id) + "\"";
  return out + ">\n";
}

std::string empty_row(int columns, std::string_view text) {
  return "<tr><td colspan=\"" + std::to_string(columns) + "\" class=\"muted\">" + h(text) + "</td></tr>\n";
}

}  // namespace sg::admin
