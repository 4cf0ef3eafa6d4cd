# Session Guard build. `make run` and `make test` are the two entry points (see README).
CXX      ?= g++
APXS     ?= apxs
BUILD    := build
OBJ      := build/obj

APR_CFLAGS   := $(shell apr-1-config --cflags --cppflags --includes 2>/dev/null)
HTTPD_INC    := -I$(shell $(APXS) -q INCLUDEDIR 2>/dev/null)
MARIADB_INC  := $(shell mariadb_config --include 2>/dev/null)
MARIADB_LIBS := $(shell mariadb_config --libs 2>/dev/null)
# fcgi_admin's single sign-out receivers: JWS verification (libcjose) and fetching the JWKS (libcurl).
SSO_LIBS     := -lcjose -lcurl

# Sanitizer builds (build/asan/) and fuzz targets (build/fuzz/): see their sections below.
ASAN_DIR := $(BUILD)/asan
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

WARN     := -Wall -Wextra -Wno-unused-parameter
CXXFLAGS ?= -O2 -g
# Include paths follow the layers (core -> db -> module, admin): the core sees only its own
# headers, so nothing in it can reach up to the database or httpd.
CXXFLAGS += -std=c++17 -fPIC -fvisibility=hidden -fvisibility-inlines-hidden $(WARN) -Icore/include

CORE_SRC := $(wildcard core/src/*.cpp)
DB_SRC   := $(wildcard db/*.cpp)
MOD_SRC  := $(wildcard mod_session_guard/*.cpp)
ADMIN_SRC := $(wildcard fcgi_admin/*.cpp)
UNIT_SRC := $(wildcard tests/unit/test_*.cpp)

CORE_OBJ  := $(CORE_SRC:%.cpp=$(OBJ)/%.o)
DB_OBJ    := $(DB_SRC:%.cpp=$(OBJ)/%.o)
MOD_OBJ   := $(MOD_SRC:%.cpp=$(OBJ)/%.o)
ADMIN_LIB_OBJ := $(filter-out $(OBJ)/fcgi_admin/main.o,$(ADMIN_SRC:%.cpp=$(OBJ)/%.o))
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.cpp=$(BUILD)/tests/%)
# The admin's tests link the admin, the database adapter, libfcgi and Connector/C; the
# adapter's (test_db_*) the adapter and Connector/C; every other unit test the core alone.
ADMIN_UNIT_SRC := $(wildcard tests/unit/test_admin_*.cpp)
DB_UNIT_SRC    := $(wildcard tests/unit/test_db_*.cpp)
CORE_UNIT_SRC  := $(filter-out $(ADMIN_UNIT_SRC) $(DB_UNIT_SRC),$(UNIT_SRC))

# Plain `make` builds on every core, as `make run` and `make test` do.
MAKEFLAGS += -j$(shell nproc)

.PHONY: all deps run test unit integration bench chaos clean asan unit-asan fuzz-build fuzz install deb FORCE
all: $(BUILD)/mod_session_guard.so $(BUILD)/fcgi_admin $(BUILD)/session-guard-prune $(UNIT_BIN)

deps:
	@scripts/install-deps

$(OBJ)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(OBJ)/db/%.o: CXXFLAGS += $(MARIADB_INC) -I$(BUILD)/gen

# The migration files this build knows (db/health_check.cpp): rewritten only when the list changes.
MIGRATIONS := $(sort $(notdir $(wildcard sql/*.sql)))
$(BUILD)/gen/migrations.inc: FORCE
	@mkdir -p $(dir $@)
	@printf 'constexpr const char* kMigrationFiles[] = {%s};\n' "$(foreach m,$(MIGRATIONS),\"$(m)\",)" | cmp -s - $@ \
	  || printf 'constexpr const char* kMigrationFiles[] = {%s};\n' "$(foreach m,$(MIGRATIONS),\"$(m)\",)" > $@
$(OBJ)/db/health_check.o $(ASAN_DIR)/obj/db/health_check.o: $(BUILD)/gen/migrations.inc
$(OBJ)/mod_session_guard/%.o: CXXFLAGS += -Idb $(HTTPD_INC) $(APR_CFLAGS) $(MARIADB_INC) -Wno-cast-function-type
$(OBJ)/fcgi_admin/%.o: CXXFLAGS += -Idb $(MARIADB_INC)
$(OBJ)/prune/%.o: CXXFLAGS += -Idb $(MARIADB_INC)

$(BUILD)/libsgcore.a: $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/libsgdb.a: $(DB_OBJ)
	rm -f $@ && ar rcs $@ $^

# Only the module symbol leaves the shared object (version script), so nothing of ours
# can collide with PHP's or another module's C++ symbols inside httpd.
# MODULE_ASAN=1 builds it from build/asan/ objects, with AddressSanitizer and UBSan (see
# README, "Sanitizers"); the flavour file relinks it whenever MODULE_ASAN changes.
ifeq ($(MODULE_ASAN),1)
MODULE_FLAVOUR := asan
MODULE_INPUTS  := $(MOD_SRC:%.cpp=$(ASAN_DIR)/obj/%.o) $(ASAN_DIR)/libsgdb.a $(ASAN_DIR)/libsgcore.a
MODULE_LDFLAGS := $(SANITIZE)
else
MODULE_FLAVOUR := plain
MODULE_INPUTS  := $(MOD_OBJ) $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a
MODULE_LDFLAGS :=
endif
$(BUILD)/module-flavour: FORCE
	@mkdir -p $(BUILD)
	@echo $(MODULE_FLAVOUR) | cmp -s - $@ || echo $(MODULE_FLAVOUR) > $@

$(BUILD)/mod_session_guard.so: $(MODULE_INPUTS) mod_session_guard/exports.map $(BUILD)/module-flavour
	$(CXX) -shared $(LDFLAGS) $(MODULE_LDFLAGS) -o $@ $(MODULE_INPUTS) \
	  -Wl,--version-script=mod_session_guard/exports.map \
	  $(MARIADB_LIBS) -lcrypto $(shell apr-1-config --link-ld --libs) $(shell apu-1-config --link-ld 2>/dev/null)

$(BUILD)/fcgi_admin: $(OBJ)/fcgi_admin/main.o $(ADMIN_LIB_OBJ) $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a
	$(CXX) $(LDFLAGS) -o $@ $^ -lfcgi $(MARIADB_LIBS) $(SSO_LIBS) -lcrypto

# Many stand-in instances' pollers against one database (bench/poll_swarm.py).
$(BUILD)/bench/poll_swarm: bench/poll_swarm.cpp $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -Idb $(MARIADB_INC) -o $@ $< $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a $(MARIADB_LIBS) -lcrypto -lpthread

# The history pruner (prune/main.cpp): the database adapter and the core, nothing else.
$(BUILD)/session-guard-prune: $(OBJ)/prune/main.o $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(MARIADB_LIBS) -lcrypto

$(ADMIN_UNIT_SRC:tests/unit/%.cpp=$(BUILD)/tests/%): $(BUILD)/tests/%: tests/unit/%.cpp $(ADMIN_LIB_OBJ) $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -Idb -Ifcgi_admin $(MARIADB_INC) -o $@ $< $(ADMIN_LIB_OBJ) $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a \
	  -lcmocka -lfcgi $(MARIADB_LIBS) $(SSO_LIBS) -lcrypto -lpthread
$(DB_UNIT_SRC:tests/unit/%.cpp=$(BUILD)/tests/%): $(BUILD)/tests/%: tests/unit/%.cpp $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -Idb $(MARIADB_INC) -o $@ $< $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a -lcmocka $(MARIADB_LIBS) -lcrypto
$(CORE_UNIT_SRC:tests/unit/%.cpp=$(BUILD)/tests/%): $(BUILD)/tests/%: tests/unit/%.cpp $(BUILD)/libsgcore.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -o $@ $< $(BUILD)/libsgcore.a -lcmocka -lcrypto

# --- Sanitizers: the same sources with gcc's ASan+UBSan in build/asan/ (unit tests, and the
# module with MODULE_ASAN=1). -fno-sanitize-recover makes any UB a failure, not a message.
# gcc warns maybe-uninitialized falsely under -fsanitize (e.g. in <regex>): off here only.
ASAN_CXXFLAGS := -O1 -g $(SANITIZE) -std=c++17 -fPIC -fvisibility=hidden -fvisibility-inlines-hidden $(WARN) \
  -Wno-maybe-uninitialized \
  -Icore/include
ASAN_UNIT_BIN := $(UNIT_SRC:tests/unit/%.cpp=$(ASAN_DIR)/tests/%)
ASAN_ADMIN_OBJ := $(ADMIN_LIB_OBJ:$(OBJ)/%=$(ASAN_DIR)/obj/%)

$(ASAN_DIR)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(ASAN_CXXFLAGS) -MMD -MP -c $< -o $@
$(ASAN_DIR)/obj/db/%.o: ASAN_CXXFLAGS += $(MARIADB_INC) -I$(BUILD)/gen
$(ASAN_DIR)/obj/mod_session_guard/%.o: ASAN_CXXFLAGS += -Idb $(HTTPD_INC) $(APR_CFLAGS) $(MARIADB_INC) -Wno-cast-function-type
$(ASAN_DIR)/obj/fcgi_admin/%.o: ASAN_CXXFLAGS += -Idb $(MARIADB_INC)
$(ASAN_DIR)/libsgcore.a: $(CORE_SRC:%.cpp=$(ASAN_DIR)/obj/%.o)
	rm -f $@ && ar rcs $@ $^
$(ASAN_DIR)/libsgdb.a: $(DB_SRC:%.cpp=$(ASAN_DIR)/obj/%.o)
	rm -f $@ && ar rcs $@ $^
$(ADMIN_UNIT_SRC:tests/unit/%.cpp=$(ASAN_DIR)/tests/%): $(ASAN_DIR)/tests/%: tests/unit/%.cpp $(ASAN_ADMIN_OBJ) $(ASAN_DIR)/libsgdb.a $(ASAN_DIR)/libsgcore.a
	@mkdir -p $(dir $@)
	$(CXX) $(ASAN_CXXFLAGS) -Idb -Ifcgi_admin $(MARIADB_INC) -o $@ $< $(ASAN_ADMIN_OBJ) $(ASAN_DIR)/libsgdb.a \
	  $(ASAN_DIR)/libsgcore.a -lcmocka -lfcgi $(MARIADB_LIBS) $(SSO_LIBS) -lcrypto -lpthread
$(DB_UNIT_SRC:tests/unit/%.cpp=$(ASAN_DIR)/tests/%): $(ASAN_DIR)/tests/%: tests/unit/%.cpp $(ASAN_DIR)/libsgdb.a $(ASAN_DIR)/libsgcore.a
	@mkdir -p $(dir $@)
	$(CXX) $(ASAN_CXXFLAGS) -Idb $(MARIADB_INC) -o $@ $< $(ASAN_DIR)/libsgdb.a $(ASAN_DIR)/libsgcore.a -lcmocka $(MARIADB_LIBS) -lcrypto
$(CORE_UNIT_SRC:tests/unit/%.cpp=$(ASAN_DIR)/tests/%): $(ASAN_DIR)/tests/%: tests/unit/%.cpp $(ASAN_DIR)/libsgcore.a
	@mkdir -p $(dir $@)
	$(CXX) $(ASAN_CXXFLAGS) -o $@ $< $(ASAN_DIR)/libsgcore.a -lcmocka -lcrypto

asan: $(ASAN_UNIT_BIN)

# --- Fuzzing: libFuzzer targets fuzz/fuzz_*.cpp (one per file, picked up by the wildcard)
# over the pure core, built with clang in build/fuzz/ so the gcc build is untouched.
FUZZ_CXX   ?= clang++-14
FUZZ_DIR   := $(BUILD)/fuzz
FUZZ_FLAGS := -O1 -g -std=c++17 -fno-omit-frame-pointer -fsanitize=address,undefined \
  -fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter -Icore/include
FUZZ_SRC   := $(wildcard fuzz/fuzz_*.cpp)
FUZZ_BIN   := $(FUZZ_SRC:fuzz/%.cpp=$(FUZZ_DIR)/%)
FUZZ_SECONDS ?= 90

$(FUZZ_DIR)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(FUZZ_DIR)/libsgcore.a: $(CORE_SRC:%.cpp=$(FUZZ_DIR)/obj/%.o)
	rm -f $@ && ar rcs $@ $^
$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/fuzz/fuzz_%.o $(FUZZ_DIR)/libsgcore.a
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ -lcrypto

fuzz-build: $(FUZZ_BIN)

# Tools such as apxs may only exist after deps, so the build runs in a fresh make.
# make run builds only what it runs.
run: deps
	@$(MAKE) --no-print-directory $(BUILD)/mod_session_guard.so $(BUILD)/fcgi_admin
	@scripts/run

unit: all
	@tests/run-unit

# With MODULE_ASAN=1: the module's suites against the ASan build inside Apache (README, "Sanitizers").
integration: all
ifeq ($(MODULE_ASAN),1)
	@tests/run-asan-integration
else
	@tests/run-integration
endif

unit-asan: asan
	@tests/run-unit --asan

# FUZZ_SECONDS per target (README, "Fuzzing": the default gives well over 10 million runs).
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@tests/run-fuzz --seconds $(FUZZ_SECONDS)

test: deps
	@$(MAKE) --no-print-directory all asan fuzz-build
	@tests/run-all

bench: deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench/poll_swarm
	@bench/run

# The fault scenarios on a real Galera farm, one table (bench/chaos.py); loopback only, bounded.
chaos: deps
	@$(MAKE) --no-print-directory $(BUILD)/mod_session_guard.so $(BUILD)/fcgi_admin
	@python3 bench/chaos.py

# --- make install: Debian's layout (README, "Install"). DESTDIR for packaging; PREFIX for
# the programs, shared files, manual pages and systemd units (Apache's own paths come from
# apxs and stay where Apache looks for them, as does Debian's /usr/lib/cgi-bin).
PREFIX     ?= /usr
DESTDIR    ?=
APACHE_MODDIR := $(shell $(APXS) -q LIBEXECDIR 2>/dev/null)
APACHE_ETC    := $(shell $(APXS) -q SYSCONFDIR 2>/dev/null)
CGI_DIR    := /usr/lib/cgi-bin/session-guard
SHARE_DIR  := $(PREFIX)/share/session-guard
SBIN_DIR   := $(PREFIX)/sbin
# Debian 12 keeps the packages' units in /lib; a local install, in systemd's PREFIX/lib.
UNIT_DIR   ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
# Installed files name the paths they were installed to, whatever PREFIX is.
INSTALL_SED := sed -e 's|/usr/share/session-guard/|$(SHARE_DIR)/|g' -e 's|/usr/sbin/session-guard-|$(SBIN_DIR)/session-guard-|g'
MAN_PAGES  := $(BUILD)/man/mod_session_guard.8 $(BUILD)/man/fcgi_admin.8 $(BUILD)/man/session-guard-db-setup.8 \
              $(BUILD)/man/session-guard-prune.8

$(BUILD)/man/mod_session_guard.8: README.md scripts/man-directives
	@mkdir -p $(dir $@)
	scripts/man-directives $@
$(BUILD)/man/%.8: man/%.8
	@mkdir -p $(dir $@)
	cp $< $@

install: $(BUILD)/mod_session_guard.so $(BUILD)/fcgi_admin $(BUILD)/session-guard-prune $(MAN_PAGES)
	install -D -m 0644 $(BUILD)/mod_session_guard.so $(DESTDIR)$(APACHE_MODDIR)/mod_session_guard.so
	install -D -m 0644 conf/session_guard.load $(DESTDIR)$(APACHE_ETC)/mods-available/session_guard.load
	install -D -m 0644 conf/session_guard.conf $(DESTDIR)$(APACHE_ETC)/mods-available/session_guard.conf
	install -D -m 0644 conf/session-guard-admin.conf $(DESTDIR)$(APACHE_ETC)/conf-available/session-guard-admin.conf
	install -D -m 0755 $(BUILD)/fcgi_admin $(DESTDIR)$(CGI_DIR)/fcgi_admin
	install -d $(DESTDIR)$(SBIN_DIR) $(DESTDIR)$(UNIT_DIR) $(DESTDIR)$(SHARE_DIR)/sql $(DESTDIR)$(PREFIX)/share/man/man8
	ln -sf $(CGI_DIR)/fcgi_admin $(DESTDIR)$(SBIN_DIR)/fcgi_admin
	install -m 0755 $(BUILD)/session-guard-prune $(DESTDIR)$(SBIN_DIR)/session-guard-prune
	$(INSTALL_SED) scripts/session-guard-db-setup >$(DESTDIR)$(SBIN_DIR)/session-guard-db-setup
	chmod 0755 $(DESTDIR)$(SBIN_DIR)/session-guard-db-setup
	# Beside the migrations it applies as well (relative: the link holds under any PREFIX).
	ln -sf ../../sbin/session-guard-db-setup $(DESTDIR)$(SHARE_DIR)/session-guard-db-setup
	install -m 0644 sql/*.sql $(DESTDIR)$(SHARE_DIR)/sql/
	for unit in session-guard-admin.service session-guard-prune.service session-guard-prune.timer; do \
	  $(INSTALL_SED) conf/$$unit >$(DESTDIR)$(UNIT_DIR)/$$unit && chmod 0644 $(DESTDIR)$(UNIT_DIR)/$$unit || exit 1; \
	done
	for page in $(MAN_PAGES); do \
	  $(INSTALL_SED) $$page >$(DESTDIR)$(PREFIX)/share/man/man8/$$(basename $$page) && \
	    chmod 0644 $(DESTDIR)$(PREFIX)/share/man/man8/$$(basename $$page) || exit 1; \
	done

# Debian packages (debian/, debhelper and dh_apache2) in build/deb/, checked by lintian.
deb: deps
	@scripts/make-deb

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
