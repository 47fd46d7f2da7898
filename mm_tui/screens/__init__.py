"""Full screens of the console: first run, login and the tabbed main screen."""
