# Reclaimers (issue 3): llist, deferred-release list, page pool, epoch domain.
arenakit_add_test(NAME reclaim_llist SOURCES lists/reclaim_llist.cpp)
arenakit_add_test(NAME reclaim_llist_stress SOURCES lists/reclaim_llist_stress.cpp LABELS stress TIMEOUT 120)
arenakit_add_test(NAME reclaim_release_list SOURCES lists/reclaim_release_list.cpp)
arenakit_add_test(NAME reclaim_release_list_stress SOURCES lists/reclaim_release_list_stress.cpp LABELS stress TIMEOUT 120)
arenakit_add_test(NAME reclaim_page_pool SOURCES page_pool/reclaim_page_pool.cpp)
arenakit_add_test(NAME reclaim_page_pool_stress SOURCES page_pool/reclaim_page_pool_stress.cpp LABELS stress TIMEOUT 120)
arenakit_add_test(NAME reclaim_epoch SOURCES epoch/reclaim_epoch.cpp TIMEOUT 120)
arenakit_add_test(NAME reclaim_epoch_stress SOURCES epoch/reclaim_epoch_stress.cpp LABELS stress TIMEOUT 120)
arenakit_add_test(NAME reclaim_arena SOURCES reclaimers/reclaim_arena.cpp)
# Statistics races forced at pause points (issue 10's sweep).
arenakit_add_test(NAME reclaim_races SOURCES reclaimers/reclaim_races.cpp LABELS stress)
target_compile_definitions(reclaim_races PRIVATE ARENAKIT_TEST_HOOKS)
