# Reclaimers (issue 3): llist, deferred-release list, page pool, epoch domain.
arenakit_add_test(NAME reclaim_llist SOURCES reclaim_llist.cpp)
arenakit_add_test(NAME reclaim_llist_stress SOURCES reclaim_llist_stress.cpp LABELS stress TIMEOUT 120)
arenakit_add_test(NAME reclaim_release_list SOURCES reclaim_release_list.cpp)
arenakit_add_test(NAME reclaim_release_list_stress SOURCES reclaim_release_list_stress.cpp LABELS stress TIMEOUT 120)
arenakit_add_test(NAME reclaim_page_pool SOURCES reclaim_page_pool.cpp)
arenakit_add_test(NAME reclaim_page_pool_stress SOURCES reclaim_page_pool_stress.cpp LABELS stress TIMEOUT 120)
