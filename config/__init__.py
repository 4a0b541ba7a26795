"""Configuration: the bot's settings and the repository config file. Pure: no I/O beyond reading files it is given."""
