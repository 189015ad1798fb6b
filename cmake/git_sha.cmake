# Run at build time (cmake -DSRC=... -DOUT=... -P git_sha.cmake): writes OUT, a header defining
# CONVSCALE_GIT_SHA as the source tree's current commit, only when that changed, so every build
# stamps its outputs with the commit it was built from and a new commit recompiles one file.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE sha OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT sha)
  set(sha "unknown")
endif()
set(text "#define CONVSCALE_GIT_SHA \"${sha}\"\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
