"""Queries an rtnode server through pydruid (a real Druid client) and checks the values.

usage: check_pydruid.py URL DATASOURCE
The datasource holds Druid's 10 wikipedia integration-test events (two days, 5 each).
"""
import sys
import urllib.error  # pydruid 0.6.9 uses urllib.request without importing it
import urllib.request

from pydruid.client import PyDruid
from pydruid.utils.aggregators import count, doublesum, longsum
from pydruid.utils.filters import Dimension
from pydruid.utils.postaggregator import Field

url, ds = sys.argv[1], sys.argv[2]
client = PyDruid(url, "druid/v2")
day = "2013-08-31/p1d"

ts = client.timeseries(
    datasource=ds,
    granularity="all",
    intervals=day,
    aggregations={"rows": count("count"), "added": doublesum("added")},
    filter=Dimension("language") == "en",
)
assert ts.result == [
    {"timestamp": "2013-08-31T01:02:33.000Z", "result": {"rows": 2, "added": 516.0}}
], ts.result

top = client.topn(
    datasource=ds,
    granularity="all",
    intervals="2013-08-31/P2D",
    aggregations={"added": doublesum("added"), "edits": longsum("count")},
    post_aggregations={"per_edit": Field("added") / Field("edits")},
    dimension="page",
    metric="added",
    threshold=2,
)
rows = top.result[0]["result"]
assert [r["page"] for r in rows] == ["Crimson Typhoon", "Striker Eureka"], rows
assert rows[0]["added"] == 1810.0 and rows[0]["edits"] == 2 and rows[0]["per_edit"] == 905.0, rows

group = client.groupby(
    datasource=ds,
    granularity="day",
    intervals="2013-08-31/2013-09-02",
    dimensions=["namespace"],
    aggregations={"edits": longsum("count")},
    filter=(Dimension("robot") == "true") & ~(Dimension("language") == "ja"),
)
events = [(r["timestamp"], r["event"]["namespace"], r["event"]["edits"]) for r in group.result]
assert events == [
    ("2013-08-31T00:00:00.000Z", "article", 1),
    ("2013-08-31T00:00:00.000Z", "wikipedia", 2),
    ("2013-09-01T00:00:00.000Z", "article", 1),
    ("2013-09-01T00:00:00.000Z", "wikipedia", 2),
], events

scan = client.scan(
    datasource=ds,
    granularity="all",
    intervals=day,
    columns=["__time", "page", "added"],
    limit=3,
)
rows = [e for batch in scan.result for e in batch["events"]]
assert [r["page"] for r in rows] == ["Gypsy Danger", "Striker Eureka", "Cherno Alpha"], rows
assert rows[0]["__time"] == 1377910953000 and rows[0]["added"] == 57.0, rows

print("pydruid checks passed")
