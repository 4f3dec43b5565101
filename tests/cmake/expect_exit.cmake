# Runs BINARY with ARGS and checks its exit code (EXPECT_EXIT) and that its standard error
# contains EXPECT_STDERR.
execute_process(COMMAND ${BINARY} ${ARGS} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL EXPECT_EXIT)
  message(FATAL_ERROR "${BINARY} ${ARGS} exited ${rc}, expected ${EXPECT_EXIT}; stderr: ${err}")
endif()
string(FIND "${err}" "${EXPECT_STDERR}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "stderr of ${BINARY} ${ARGS} lacks '${EXPECT_STDERR}': ${err}")
endif()
