// `fcgi_admin doctor`: checks an installation the way an operator would, one line per
// finding, each problem with how to fix it. Exit status 0 when nothing is wrong, 1 when
// something is, 3 when the database cannot be reached at all.
#pragma once
#include <ostream>
#include <string>

namespace sg::admin {

int doctor(const std::string& option_file, std::ostream& out);

}  // namespace sg::admin
