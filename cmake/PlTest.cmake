# pl_add_unit_test(NAME name SOURCES a.c b.c LIBS pl_x pl_y)
# Unit tests link the harness (tests/unit/harness.c), which wraps the allocator and
# fails a test that leaks. Tests run with the source tree as working directory.
function(pl_add_unit_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(test_${T_NAME} ${T_SOURCES} ${CMAKE_SOURCE_DIR}/tests/unit/harness.c)
  target_include_directories(test_${T_NAME} PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit)
  target_link_libraries(test_${T_NAME} PRIVATE ${T_LIBS} pl_common)
  add_test(NAME unit.${T_NAME} COMMAND test_${T_NAME} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(unit.${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "unit;${T_LABELS}"
    ENVIRONMENT "PL_BUILD_DIR=${CMAKE_BINARY_DIR};PL_SHARED_DIR=${CMAKE_SOURCE_DIR}/../shared")
endfunction()

# pl_add_integration_test(NAME name COMMAND cmd args... [TIMEOUT s])
# Integration tests start real processes; they get the build dir and the shared corpus dir.
function(pl_add_integration_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "COMMAND;LABELS" ${ARGN})
  add_test(NAME integration.${T_NAME} COMMAND ${T_COMMAND} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(integration.${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT}
    LABELS "integration;${T_LABELS}"
    ENVIRONMENT "PL_BUILD_DIR=${CMAKE_BINARY_DIR};PL_BIN=${CMAKE_BINARY_DIR}/src/cli/protectlambda;PL_SHARED_DIR=${CMAKE_SOURCE_DIR}/../shared;PL_SOURCE_DIR=${CMAKE_SOURCE_DIR};PROTECTLAMBDA_STORE_PATH=${CMAKE_BINARY_DIR}/teststores/${T_NAME}/incidents.db")
endfunction()
