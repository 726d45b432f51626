"""Personal data over time: retention (purge), erasure of a person, rotation of the data key."""
