"""Time in the config's words, decided with the time passed in (pure, no clock).

- :mod:`.durations`: ``500ms``, ``10m``, ``1h30m``: the one dialect of durations;
- :mod:`.quiet_hours`: times of day when nothing is uploaded;
- :mod:`.bandwidth`: the upload cap, its timetable, and the token bucket.
"""
