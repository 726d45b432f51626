"""Radio: stations, airings planned from radio steps, calibration, the airing log and exports."""
