"""Topic suites: one property checked across every module of fastnn (see tests/README.md)."""
