# dma-buf import, source, mapper and CPU-access sync (arenakit::dmabuf).
if(TARGET arenakit_dmabuf)
  # Through the DmabufOps seam (a memfd made to look like a dma-buf) and the
  # real refusals of every other fd kind: runs everywhere.
  arenakit_add_test(NAME test_dmabuf_import SOURCES test_dmabuf_import.cpp LIBS arenakit::dmabuf)
  arenakit_add_test(NAME test_dmabuf_arena SOURCES test_dmabuf_arena.cpp LIBS arenakit::dmabuf)

  # A real dma-buf from /dev/udmabuf; Skipped (exit 77, reason printed) where
  # the kernel has no CONFIG_UDMABUF. A plain main(): the skip is an exit code.
  add_executable(test_dmabuf_udmabuf test_dmabuf_udmabuf.cpp)
  target_link_libraries(test_dmabuf_udmabuf PRIVATE arenakit::dmabuf)
  arenakit_strict(test_dmabuf_udmabuf)
  add_test(NAME test_dmabuf_udmabuf COMMAND test_dmabuf_udmabuf)
  set_tests_properties(test_dmabuf_udmabuf PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60)

  # The CUDA-exported dma-buf check needs the CUDA toolkit and a GPU: opt-in.
  option(ARENAKIT_BUILD_GPU_CHECKS "Build GPU checks (tests/gpu; needs the CUDA toolkit)" OFF)
  if(ARENAKIT_BUILD_GPU_CHECKS)
    find_package(CUDAToolkit QUIET)
    if(CUDAToolkit_FOUND)
      add_executable(cuda_dmabuf_check gpu/cuda_dmabuf_check.cpp)
      target_link_libraries(cuda_dmabuf_check PRIVATE arenakit::dmabuf CUDA::cuda_driver)
      arenakit_strict(cuda_dmabuf_check)
      add_test(NAME cuda_dmabuf_check COMMAND cuda_dmabuf_check)
      set_tests_properties(cuda_dmabuf_check PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS gpu)
    else()
      message(WARNING "ARENAKIT_BUILD_GPU_CHECKS=ON but the CUDA toolkit was not found: cuda_dmabuf_check not built")
    endif()
  endif()
endif()
