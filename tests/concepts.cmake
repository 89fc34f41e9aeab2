# Policy concepts (issue 11): each has a check_*() whose message names what a
# misfit lacks; each compile-fail test proves that message reaches the user.
arenakit_add_test(NAME concepts_policies SOURCES concepts/concepts_policies.cpp)

arenakit_add_compile_fail_test(NAME cf_cpu_sync_without_end
  SOURCE concepts/compile_fail/cpu_sync_without_end.cpp
  REGEX "arenakit: CpuSync is missing `end_cpu_access")
arenakit_add_compile_fail_test(NAME cf_page_source_without_free_page
  SOURCE concepts/compile_fail/page_source_without_free_page.cpp
  REGEX "arenakit: PageSource is missing `free_page")
arenakit_add_compile_fail_test(NAME cf_wake_policy_unknown
  SOURCE concepts/compile_fail/wake_policy_unknown.cpp
  REGEX "arenakit: WakePolicy must be one of")
arenakit_add_compile_fail_test(NAME cf_waker_not_callable
  SOURCE concepts/compile_fail/waker_not_callable.cpp
  REGEX "arenakit: Waker must be callable")
arenakit_add_compile_fail_test(NAME cf_edge_list_without_waker
  SOURCE concepts/compile_fail/edge_list_without_waker.cpp
  REGEX "arenakit: a WakeOnEdge or WakeAtWatermark ReleaseList needs a Waker")
arenakit_add_compile_fail_test(NAME cf_recv_arena_without_release_bulk
  SOURCE concepts/compile_fail/recv_arena_without_release_bulk.cpp
  REGEX "arenakit: RecvPool's arena is missing `release_bulk")
if(TARGET arenakit_uring)
  arenakit_add_compile_fail_test(NAME cf_buf_ring_pool_without_take_for_post
    SOURCE concepts/compile_fail/buf_ring_pool_without_take_for_post.cpp
    REGEX "arenakit: UringBufRing's pool is missing `take_for_post")
  target_link_libraries(cf_buf_ring_pool_without_take_for_post PRIVATE arenakit::uring)
endif()
