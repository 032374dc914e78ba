# protectlambda-lambda: the binary that ships in the layer (packaging/make-layer.sh).
# The same CLI entry point and the roles that run inside Lambda (extension, wrap, config),
# linked with the Vectorscan RUNTIME only (pl_engine_runtime: libhs_runtime.a, plain C) instead
# of the full compiler (libhs + libstdc++, which needs glibc > 2.34), and with static archives
# of pcre2 / yaml / sqlite / seccomp / crypto where Debian has them. Everything else it needs
# (libcurl, loaded on first use by src/store/aws.c, and its libraries) is copied into the
# layer's lib/ (rpath $ORIGIN/../lib). Included from
# src/cli/CMakeLists.txt.
set(PL_LAMBDA_CLI_SOURCES
  ${CMAKE_SOURCE_DIR}/src/cli/main.c
  ${CMAKE_SOURCE_DIR}/src/cli/cmd_extension.c
  ${CMAKE_SOURCE_DIR}/src/cli/cmd_wrap.c
  ${CMAKE_SOURCE_DIR}/src/cli/cmd_config.c)

# Walk pl_guard's link interface: project libraries are linked by archive file (so their link
# interface does not drag the full pl_engine in), pl_engine becomes pl_engine_runtime, and
# system libraries are swapped for their static archives where they exist.
set(_pl_static_map
  "${PCRE2_LIB}|${PCRE2_STATIC_LIB}" "${YAML_LIB}|${YAML_STATIC_LIB}"
  "${SQLITE_LIB}|${SQLITE_STATIC_LIB}" "${SECCOMP_LIB}|${SECCOMP_STATIC_LIB}"
  "${CRYPTO_LIB}|${CRYPTO_STATIC_LIB}" "${HS_LIB}|${HS_RUNTIME_LIB}")
set(_pl_todo pl_guard)
set(_pl_seen)
set(_pl_lambda_archives)
set(_pl_lambda_external)
while(_pl_todo)
  list(POP_FRONT _pl_todo _t)
  if(_t STREQUAL "pl_engine")
    set(_t pl_engine_runtime)
  endif()
  if(_t IN_LIST _pl_seen)
    continue()
  endif()
  list(APPEND _pl_seen ${_t})
  list(APPEND _pl_lambda_archives $<TARGET_FILE:${_t}>)
  get_target_property(_libs ${_t} INTERFACE_LINK_LIBRARIES)
  if(NOT _libs)
    continue()
  endif()
  foreach(l ${_libs})
    if(TARGET ${l} AND l MATCHES "^pl_")
      list(APPEND _pl_todo ${l})
      continue()
    endif()
    if(l STREQUAL "stdc++")
      continue()            # only the full Vectorscan needs it
    endif()
    foreach(m ${_pl_static_map})
      string(REPLACE "|" ";" _pair "${m}")
      list(LENGTH _pair _n)
      if(_n EQUAL 2)
        list(GET _pair 0 _from)
        list(GET _pair 1 _to)
        if("${l}" STREQUAL "${_from}" AND _to)
          set(l ${_to})
        endif()
      endif()
    endforeach()
    list(APPEND _pl_lambda_external ${l})
  endforeach()
endwhile()
list(REMOVE_DUPLICATES _pl_lambda_external)

add_executable(protectlambda-lambda ${PL_LAMBDA_CLI_SOURCES})
foreach(_t ${_pl_seen})
  add_dependencies(protectlambda-lambda ${_t})
endforeach()
target_link_libraries(protectlambda-lambda PRIVATE
  -Wl,--start-group ${_pl_lambda_archives} -Wl,--end-group
  ${_pl_lambda_external} Threads::Threads m dl)
# DT_RPATH (not RUNPATH): it also applies to the dependencies of the shipped libraries
# (libcurl's own libraries live in lib/ too)
set_target_properties(protectlambda-lambda PROPERTIES
  BUILD_WITH_INSTALL_RPATH ON INSTALL_RPATH "\$ORIGIN/../lib" LINKER_LANGUAGE C)
target_link_options(protectlambda-lambda PRIVATE -Wl,--disable-new-dtags -no-pie)
# non-PIE: no start-up relocation of ~55,000 pointers (wrap runs on every cold start)
set_target_properties(protectlambda-lambda PROPERTIES POSITION_INDEPENDENT_CODE OFF)

# protectlambda-wrap: the exec wrapper alone (role `wrap`), for the layer's wrapper script. It
# runs on every cold start before the runtime, so it links only what wrapping needs (settings,
# harden hook, monitor discovery): no rules engine, no libcurl chain to load and relocate.
# hooks_harden.c also holds the extension-side monitor listener start, which refers to the
# guard: --gc-sections drops that unreferenced function and its references.
# Not in sanitizer/fuzz builds: their instrumentation keeps references that --gc-sections
# cannot drop (undefined pl_guard_* at link time); the layer is built from the normal build.
if(NOT PL_SANITIZE AND NOT PL_FUZZ)
  add_executable(protectlambda-wrap
    ${CMAKE_SOURCE_DIR}/src/cli/main.c
    ${CMAKE_SOURCE_DIR}/src/cli/cmd_wrap.c
    ${CMAKE_SOURCE_DIR}/src/guard/exec_env.c
    ${CMAKE_SOURCE_DIR}/src/guard/hooks_harden.c)
  target_compile_options(protectlambda-wrap PRIVATE -ffunction-sections -fdata-sections)
  set(_pl_wrap_libs)
  foreach(_t pl_harden pl_monitor_listener pl_common)
    if(TARGET ${_t})
      list(APPEND _pl_wrap_libs $<TARGET_FILE:${_t}>)
      add_dependencies(protectlambda-wrap ${_t})
    endif()
  endforeach()
  set(_pl_wrap_seccomp ${SECCOMP_LIB})
  if(SECCOMP_STATIC_LIB)
    set(_pl_wrap_seccomp ${SECCOMP_STATIC_LIB})
  endif()
  target_link_libraries(protectlambda-wrap PRIVATE -Wl,--start-group ${_pl_wrap_libs}
    -Wl,--end-group ${_pl_wrap_seccomp} Threads::Threads)
  target_link_options(protectlambda-wrap PRIVATE -Wl,--gc-sections -no-pie)
  set_target_properties(protectlambda-wrap PROPERTIES POSITION_INDEPENDENT_CODE OFF)
endif()
