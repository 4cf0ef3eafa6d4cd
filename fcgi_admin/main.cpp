// fcgi_admin: with a subcommand a CLI, without one a FastCGI responder (the admin pages).
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "server.hpp"
#include "settings.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (!args.empty() && sg::admin::is_cli_command(args[0])) return sg::admin::run_cli(args, std::cout, std::cerr);
    if (!args.empty()) {
      std::cerr << "fcgi_admin: unknown command '" << args[0] << "' (fcgi_admin help)\n";
      return 1;
    }
    // mod_fcgid and spawn-fcgi start us without arguments; $SG_DB_CNF names the option file.
    return sg::admin::serve(sg::admin::load_settings(""));
  } catch (const std::exception& e) {
    std::cerr << "fcgi_admin: " << e.what() << "\n";
    return 3;
  }
}
