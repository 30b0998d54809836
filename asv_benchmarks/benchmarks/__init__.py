"""fastnn's airspeed-velocity benchmark suite (see ../asv.conf.json and the README)."""
