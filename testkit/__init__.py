"""sipp, playing callers: scenarios rendered per call and a runner."""
