"""hacert's library: the layers between the device drivers and the pytest plugin."""
