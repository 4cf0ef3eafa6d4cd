# Session Guard build. `make run` and `make test` are the two entry points (see README).
CXX      ?= g++
APXS     ?= apxs
BUILD    := build
OBJ      := build/obj

APR_CFLAGS   := $(shell apr-1-config --cflags --cppflags --includes 2>/dev/null)
HTTPD_INC    := -I$(shell $(APXS) -q INCLUDEDIR 2>/dev/null)
MARIADB_INC  := $(shell mariadb_config --include 2>/dev/null)
MARIADB_LIBS := $(shell mariadb_config --libs 2>/dev/null)

WARN     := -Wall -Wextra -Wno-unused-parameter
CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++17 -fPIC -fvisibility=hidden -fvisibility-inlines-hidden $(WARN) -Icore/include -Idb

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

.PHONY: all deps run test unit integration bench clean
all: $(BUILD)/mod_session_guard.so $(BUILD)/fcgi_admin $(UNIT_BIN)

deps:
	@scripts/install-deps

$(OBJ)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(OBJ)/db/%.o: CXXFLAGS += $(MARIADB_INC)
$(OBJ)/mod_session_guard/%.o: CXXFLAGS += $(HTTPD_INC) $(APR_CFLAGS) $(MARIADB_INC) -Wno-cast-function-type
$(OBJ)/fcgi_admin/%.o: CXXFLAGS += $(MARIADB_INC)

$(BUILD)/libsgcore.a: $(CORE_OBJ)
	ar rcs $@ $^
$(BUILD)/libsgdb.a: $(DB_OBJ)
	ar rcs $@ $^

# Only the module symbol leaves the shared object (version script), so nothing of ours
# can collide with PHP's or another module's C++ symbols inside httpd.
$(BUILD)/mod_session_guard.so: $(MOD_OBJ) $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a mod_session_guard/exports.map
	$(CXX) -shared -o $@ $(MOD_OBJ) $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a \
	  -Wl,--version-script=mod_session_guard/exports.map \
	  $(MARIADB_LIBS) -lcrypto $(shell apr-1-config --link-ld --libs) $(shell apu-1-config --link-ld 2>/dev/null)

$(BUILD)/fcgi_admin: $(OBJ)/fcgi_admin/main.o $(ADMIN_LIB_OBJ) $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a
	$(CXX) -o $@ $^ -lfcgi $(MARIADB_LIBS) -lcrypto

$(BUILD)/tests/%: tests/unit/%.cpp $(ADMIN_LIB_OBJ) $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(MARIADB_INC) -Ifcgi_admin -o $@ $< $(ADMIN_LIB_OBJ) $(BUILD)/libsgdb.a $(BUILD)/libsgcore.a \
	  -lcmocka -lfcgi $(MARIADB_LIBS) -lcrypto -lpthread

# Tools such as apxs may only exist after deps, so the build runs in a fresh make.
run: deps
	@$(MAKE) --no-print-directory -j$(shell nproc) all
	@scripts/run

unit: all
	@tests/run-unit

integration: all
	@tests/run-integration

test: deps
	@$(MAKE) --no-print-directory -j$(shell nproc) all
	@tests/run-all

bench: deps
	@$(MAKE) --no-print-directory -j$(shell nproc) all
	@bench/run

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
