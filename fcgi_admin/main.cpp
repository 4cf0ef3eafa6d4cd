// fcgi_admin: with a subcommand a CLI, without one a FastCGI responder (the admin pages).
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (!args.empty() && sg::admin::is_cli_command(args[0])) return sg::admin::run_cli(args, std::cout, std::cerr);
    std::cerr << "fcgi_admin: the FastCGI pages are not built yet; use a subcommand (fcgi_admin help)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "fcgi_admin: " << e.what() << "\n";
    return 3;
  }
}
