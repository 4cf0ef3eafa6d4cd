// The database server list: `host=` in the option file, as Connector/C 3.3 spells a list, read
// by our code (db/mariadb.cpp) so that it can skip a Galera node that is not ready.
// Before unit.hpp: cmocka defines a macro `fail` that Connection's member and <ios> would
// collide with.
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "mariadb.hpp"
#include "unit.hpp"

#include <mysql.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

std::string joined(const std::vector<sg::db::ServerAddress>& servers) {
  std::string out;
  for (const auto& s : servers) out += (out.empty() ? "" : " ") + s.host + "|" + std::to_string(s.port);
  return out;
}

bool throws(std::string_view text) {
  try {
    sg::db::parse_host_list(text, 0);
    return false;
  } catch (const sg::StoreError&) {
    return true;
  }
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/sg-unit-cnf-XXXXXX";
    int fd = mkstemp(name);
    if (fd < 0) std::abort();
    close(fd);
    path = name;
    std::ofstream(path) << text;
  }
  ~TempFile() { unlink(path.c_str()); }
};

// A loopback port that refuses connections: bound, then closed again.
unsigned refused_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

}  // namespace

SG_TEST(host_list_in_order_with_ports) {
  assert_str_eq(joined(sg::db::parse_host_list("10.0.0.1:3307, db2 ,[::1]:3309", 3306)),
                "10.0.0.1|3307 db2|3306 ::1|3309");
  assert_str_eq(joined(sg::db::parse_host_list("db1", 0)), "db1|0");
  // Connector/C's own spelling of a one-host list ends with a comma.
  assert_str_eq(joined(sg::db::parse_host_list("127.0.0.1:3307,", 0)), "127.0.0.1|3307");
  assert_str_eq(joined(sg::db::parse_host_list("fe80::1", 0)), "fe80::1|0");
}

SG_TEST(host_list_refuses_what_it_cannot_read) {
  assert_true(throws(""));
  assert_true(throws("a,,b"));
  assert_true(throws(",a"));
  assert_true(throws("a:0"));
  assert_true(throws("a:65536"));
  assert_true(throws("a:33x"));
  assert_true(throws("[::1:3306"));
  assert_true(throws("[::1]3306"));
  assert_true(throws(":3306"));
}

SG_TEST(option_file_groups_as_connector_c_reads_them) {
  TempFile file(
      "; comment\n"
      "[client]\n"
      "host=ignored-later\n"
      "socket=/run/mysqld.sock\n"
      "[session_guard]\n"
      "host = \"g1:4001,g2:4002\"  \n"
      "port=4000\n"
      "[other]\n"
      "host=not-ours\n");
  assert_str_eq(joined(sg::db::servers_in_option_file(file.path, "session_guard")), "g1|4001 g2|4002");
  // Another group sees [client] only.
  assert_str_eq(joined(sg::db::servers_in_option_file(file.path, "fcgi")), "ignored-later|0");
  // A file naming only a socket names no server: Connector/C decides, as before.
  TempFile socket_only("[session_guard]\nsocket=/tmp/x.sock\nuser=u\n");
  assert_true(sg::db::servers_in_option_file(socket_only.path, "session_guard").empty());
}

SG_TEST(option_file_includes_and_port_default) {
  TempFile inner("[session_guard]\nhost=a,b:5\nport=7\n");
  TempFile outer("[client]\nuser=x\n!include " + inner.path + "\n");
  assert_str_eq(joined(sg::db::servers_in_option_file(outer.path, "session_guard")), "a|7 b|5");
}

SG_TEST(every_server_refusing_names_each_in_the_error) {
  unsigned p1 = refused_port(), p2 = refused_port();
  TempFile file("[session_guard]\nhost=127.0.0.1:" + std::to_string(p1) + ",127.0.0.1:" + std::to_string(p2) +
                "\nuser=nobody\n");
  sg::db::ConnectOptions options;
  options.option_file = file.path;
  options.connect_timeout_seconds = 1;
  std::string error;
  try {
    sg::db::Connection connection(options);
  } catch (const sg::StoreError& e) {
    error = e.what();
  }
  assert_contains(error, "cannot connect to any MariaDB server");
  assert_contains(error, "127.0.0.1:" + std::to_string(p1) + ": ");
  assert_contains(error, "; 127.0.0.1:" + std::to_string(p2) + ": ");
}

int main() {
  sg::db::initialize_library();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(host_list_in_order_with_ports),
      cmocka_unit_test(host_list_refuses_what_it_cannot_read),
      cmocka_unit_test(option_file_groups_as_connector_c_reads_them),
      cmocka_unit_test(option_file_includes_and_port_default),
      cmocka_unit_test(every_server_refusing_names_each_in_the_error),
  };
  int failed = cmocka_run_group_tests_name("db_hosts", tests, nullptr, nullptr);
  mysql_library_end();
  return failed;
}
