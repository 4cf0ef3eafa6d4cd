// Command-line mode of fcgi_admin: the same commands the pages and the API run, for scripts.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "backend.hpp"

namespace sg::admin {

// Runs one subcommand; returns the process exit status (0 ok, 1 usage, 2 refused, 3 database).
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// One command of the table (commands.hpp) from its words, e.g. {"block", "bob", "--reason", "x"},
// run on `backend` as `actor`: what run_cli does once it has a database. Same exit statuses.
int run_cli_command(Backend& backend, const std::vector<std::string>& words, const std::string& actor,
                    std::ostream& out, std::ostream& err);

bool is_cli_command(const std::string& word);

}  // namespace sg::admin
