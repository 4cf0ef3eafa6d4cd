// Command-line mode of fcgi_admin: the same operations the pages use, for scripts.
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace sg::admin {

// Runs one subcommand; returns the process exit status (0 ok, 1 usage, 2 refused, 3 database).
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

bool is_cli_command(const std::string& word);

}  // namespace sg::admin
