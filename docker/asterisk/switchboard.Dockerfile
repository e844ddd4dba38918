# The Switchboard application (ARI app + FastAGI + CLI).
#   docker build -f docker/asterisk/switchboard.Dockerfile -t switchboard .
FROM python:3.11-slim

WORKDIR /opt/switchboard
COPY pyproject.toml README.md alembic.ini ./
COPY agi/ agi/
COPY ari_app/ ari_app/
COPY db/ db/
COPY dialplan/ dialplan/
COPY migrations/ migrations/
COPY switchboard/ switchboard/
RUN pip install --no-cache-dir .

ENTRYPOINT ["switchboard"]
CMD ["run"]
