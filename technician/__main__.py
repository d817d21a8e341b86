from technician.cli import app

app(prog_name="rating-tech")
