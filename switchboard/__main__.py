from switchboard.cli.main import app

app(prog_name="switchboard")
