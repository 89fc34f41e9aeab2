# dma-buf import, source, mapper and CPU-access sync (arenakit::dmabuf).
if(TARGET arenakit_dmabuf)
  # Through the DmabufOps seam (a memfd made to look like a dma-buf) and the
  # real refusals of every other fd kind: runs everywhere.
  arenakit_add_test(NAME test_dmabuf_import SOURCES dmabuf/test_dmabuf_import.cpp LIBS arenakit::dmabuf)
  arenakit_add_test(NAME test_dmabuf_arena SOURCES dmabuf/test_dmabuf_arena.cpp LIBS arenakit::dmabuf)

  # A real dma-buf from /dev/udmabuf; Skipped (exit 77, reason printed) where
  # the kernel has no CONFIG_UDMABUF. A plain main(): the skip is an exit code.
  arenakit_add_hardware_test(NAME test_dmabuf_udmabuf SOURCES dmabuf/test_dmabuf_udmabuf.cpp LIBS arenakit::dmabuf)

  # The CUDA-exported dma-buf check needs the CUDA toolkit and a GPU: opt-in.
  option(ARENAKIT_BUILD_GPU_CHECKS "Build GPU checks (tests/dmabuf/gpu; needs the CUDA toolkit)" OFF)
  if(ARENAKIT_BUILD_GPU_CHECKS)
    find_package(CUDAToolkit QUIET)
    if(CUDAToolkit_FOUND)
      arenakit_add_hardware_test(NAME cuda_dmabuf_check SOURCES dmabuf/gpu/cuda_dmabuf_check.cpp
                                 LIBS arenakit::dmabuf CUDA::cuda_driver LABELS gpu)
    else()
      message(WARNING "ARENAKIT_BUILD_GPU_CHECKS=ON but the CUDA toolkit was not found: cuda_dmabuf_check not built")
    endif()
  endif()
endif()
