# common/: status names, config parsing, clocks.
tp_add_unit_test(status LIBS tp_common)
tp_add_unit_test(config LIBS tp_common)
tp_add_unit_test(histogram LIBS tp_common)
tp_add_unit_test(fault LIBS tp_common)
