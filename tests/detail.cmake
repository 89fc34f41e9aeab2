# detail/ primitives (issue 11): each written once in include/arenakit/detail/,
# each with its own unit test. The stack and count tests also race threads
# (label "stress": the TSan build runs them).
arenakit_add_test(NAME detail_tagged_index_stack SOURCES detail/detail_tagged_index_stack.cpp LABELS stress)
arenakit_add_test(NAME detail_bounded_count SOURCES detail/detail_bounded_count.cpp LABELS stress)
arenakit_add_test(NAME detail_spin_lock SOURCES detail/detail_spin_lock.cpp LABELS stress)
arenakit_add_test(NAME detail_owner_counter SOURCES detail/detail_owner_counter.cpp)
arenakit_add_test(NAME detail_error_category SOURCES detail/detail_error_category.cpp)
arenakit_add_test(NAME detail_id_lanes SOURCES detail/detail_id_lanes.cpp)
