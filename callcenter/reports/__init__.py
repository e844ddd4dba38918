"""Reports and planning over call-center figures (staffing math and, later, measured history)."""
