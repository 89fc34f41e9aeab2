# Reclaimers (issue 3): llist, deferred-release list, page pool, epoch domain.
arenakit_add_test(NAME reclaim_llist SOURCES reclaim_llist.cpp)
arenakit_add_test(NAME reclaim_llist_stress SOURCES reclaim_llist_stress.cpp LABELS stress TIMEOUT 120)
