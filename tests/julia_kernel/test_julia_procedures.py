"""The bundled Julia procedures, rendered as Beaker renders them, run in the offline kernel.

Beaker runs a procedure as an execute_request (store_history false) and decodes the stdout of that
request as one JSON document; these tests do the same, so a procedure that prints anything else
fails here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from beaker_kernel.lib.procedures import ProcedureSet

from ..packages import REPO
from .conftest import JuliaClient

pytestmark = pytest.mark.julia

SHARED = REPO / "procedures"
DATASET = REPO / "contexts" / "dataset" / "procedures"

CITIES = (
    "city,country,population,area\n"
    "Lagos,Nigeria,15388000,1171.3\n"
    "Lima,Peru,10719000,2672.3\n"
    "Oslo,Norway,709000,454.0\n"
    "Perth,Australia,2192000,6417.9\n"
)
# A `$` in the path checks that julia_literal keeps Julia from interpolating it.
CSV_PATH = "/tmp/beaker $data/cities.csv"


def run_procedure(julia: JuliaClient, procedures: ProcedureSet, name: str, **variables: Any) -> Any:
    code = procedures.render(name, **variables)
    result = julia.execute(code, store_history=False)
    assert result.content["status"] == "ok", "\n".join(result.content.get("traceback", []))
    assert result.stream("stderr") == ""
    assert result.of_type("execute_result") == []
    return json.loads(result.stream("stdout"))


def run_failing_procedure(
    julia: JuliaClient, procedures: ProcedureSet, name: str, **variables: Any
) -> dict[str, Any]:
    result = julia.execute(procedures.render(name, **variables), store_history=False)
    assert result.content["status"] == "error"
    return result.content


@pytest.fixture(scope="module")
def dataset() -> ProcedureSet:
    # The dataset context's own templates, then the shared ones, as a DatasetContext searches them.
    return ProcedureSet("julia", [DATASET, SHARED])


@pytest.fixture(scope="module")
def shared() -> ProcedureSet:
    return ProcedureSet("julia", [SHARED])


@pytest.fixture(scope="module")
def cities(julia: JuliaClient, dataset: ProcedureSet) -> dict[str, Any]:
    """The CSV written inside the container and loaded with the setup procedure; its result."""
    julia.run_ok(
        f"mkpath(dirname({json.dumps(CSV_PATH)}));\n".replace("$", "\\$")
        + f"write({json.dumps(CSV_PATH)}, {json.dumps(CITIES)});".replace("$", "\\$")
    )
    return dict(run_procedure(julia, dataset, "setup", path=CSV_PATH, variable="cities"))


def test_every_bundled_julia_procedure_is_covered(dataset: ProcedureSet) -> None:
    assert dataset.names() == ["describe", "filter", "preview", "setup", "state"]


def test_setup_loads_the_csv(cities: dict[str, Any], julia: JuliaClient) -> None:
    assert cities == {
        "variable": "cities",
        "rows": 4,
        "columns": ["city", "country", "population", "area"],
    }
    shown = julia.run_ok("cities.city, cities.population[2]").of_type("execute_result")
    assert (
        shown[0]["data"]["text/plain"]
        == '(Union{Missing, String}["Lagos", "Lima", "Oslo", "Perth"], 1.0719e7)'
    )


def test_describe(cities: dict[str, Any], julia: JuliaClient, dataset: ProcedureSet) -> None:
    summary = run_procedure(julia, dataset, "describe", path=CSV_PATH, variable="cities")
    assert summary["variable"] == "cities"
    assert summary["rows"] == 4
    columns = {c["name"]: c for c in summary["columns"]}
    assert list(columns) == ["city", "country", "population", "area"]
    assert columns["city"] == {"name": "city", "type": "string", "count": 4}
    assert columns["population"]["type"] == "number"
    assert columns["population"]["count"] == 4
    assert columns["population"]["min"] == 709000
    assert columns["population"]["max"] == 15388000
    assert columns["area"]["mean"] == pytest.approx((1171.3 + 2672.3 + 454.0 + 6417.9) / 4)


def test_preview(cities: dict[str, Any], julia: JuliaClient, dataset: ProcedureSet) -> None:
    preview = run_procedure(julia, dataset, "preview", path=CSV_PATH, variable="cities", rows=2)
    assert preview == {
        "variable": "cities",
        "columns": ["city", "country", "population", "area"],
        "rows": [["Lagos", "Nigeria", 15388000, 1171.3], ["Lima", "Peru", 10719000, 2672.3]],
        "total_rows": 4,
    }
    none = run_procedure(julia, dataset, "preview", path=CSV_PATH, variable="cities", rows=0)
    assert none["rows"] == []


def test_filter(cities: dict[str, Any], julia: JuliaClient, dataset: ProcedureSet) -> None:
    common = {"path": CSV_PATH, "variable": "cities"}
    big = run_procedure(
        julia, dataset, "filter", **common, column="population", op=">", value=2000000, target="big"
    )
    assert big == {"variable": "big", "rows": 3}
    peru = run_procedure(
        julia,
        dataset,
        "filter",
        **common,
        column="country",
        op="==",
        value="Peru",
        target="filtered",
    )
    assert peru == {"variable": "filtered", "rows": 1}
    small = run_procedure(
        julia, dataset, "filter", **common, column="area", op="<=", value=1171.3, target="small"
    )
    assert small == {"variable": "small", "rows": 2}
    values = julia.run_ok("(length(big.city), filtered.city[1], small.city)").of_type(
        "execute_result"
    )
    assert values[0]["data"]["text/plain"] == '(3, "Lima", Union{Missing, String}["Lagos", "Oslo"])'


def test_filter_on_a_missing_column_fails(
    cities: dict[str, Any], julia: JuliaClient, dataset: ProcedureSet
) -> None:
    error = run_failing_procedure(
        julia,
        dataset,
        "filter",
        path=CSV_PATH,
        variable="cities",
        column="altitude",
        op=">",
        value=1,
        target="filtered",
    )
    assert "altitude" in error["evalue"]
    assert "city, country, population, area" in error["evalue"]


def test_state_lists_the_users_variables(
    cities: dict[str, Any], julia: JuliaClient, shared: ProcedureSet
) -> None:
    julia.run_ok(
        'answer = 42\ngreeting = "say \\"hi\\"\\n"\nhelper(x) = x\nstruct Point; x::Int; end'
    )
    state = run_procedure(julia, shared, "state")
    variables = state["variables"]
    assert variables["answer"] == {"type": "Int64", "value": "42", "size": "1", "truncated": False}
    assert variables["greeting"]["value"] == '"say \\"hi\\"\\n"'
    assert variables["cities"]["type"].startswith(
        "NamedTuple{(:city, :country, :population, :area)"
    )
    assert len(variables["cities"]["value"]) == 200  # repr_limit's default
    assert variables["cities"]["truncated"] is True
    assert "helper" in state["functions"]
    assert "Point" in state["classes"]
    # the kernel's own module, Base, Main and `ans` are not the user's
    for name in ("BeakerJuliaKernel", "ans", "Base", "Main"):
        assert all(name not in section for section in state.values())
    julia.run_ok(
        "struct Unshowable end\n"
        'Base.show(io::IO, ::Unshowable) = error("cannot show")\n'
        "broken = Unshowable()\n"
        "big_vector = collect(1:10_000_000);"
    )
    variables = run_procedure(julia, shared, "state")["variables"]
    assert variables["broken"]["value"] == "<repr failed: cannot show>"
    # a large collection is shown elided, not built in full and then cut
    assert variables["big_vector"]["value"].startswith("[1, 2, 3")
    assert "10000000]" in variables["big_vector"]["value"]
    assert variables["big_vector"]["size"] == "10000000"
    limited = run_procedure(julia, shared, "state", repr_limit=5)
    assert limited["variables"]["greeting"]["value"] == '"say '


def test_procedures_leave_no_names_behind(
    cities: dict[str, Any], julia: JuliaClient, dataset: ProcedureSet
) -> None:
    # Closures in the templates add compiler-generated `#...` names, which no user code can clash
    # with.
    visible = 'sort!([n for n in names(Main; all=true) if !startswith(string(n), "#")])'
    before = julia.run_ok(visible).of_type("execute_result")[0]
    run_procedure(julia, dataset, "describe", path=CSV_PATH, variable="cities")
    run_procedure(julia, dataset, "preview", path=CSV_PATH, variable="cities", rows=1)
    run_procedure(julia, dataset, "state")
    after = julia.run_ok(visible).of_type("execute_result")[0]
    assert after["data"] == before["data"]


def test_missing_values(julia: JuliaClient, dataset: ProcedureSet) -> None:
    path = "/tmp/gaps.csv"
    julia.run_ok(f'write("{path}", "name,score\\nann,1.5\\n,\\nbob,\\n\\"c, d\\",4\\n");')
    loaded = run_procedure(julia, dataset, "setup", path=path, variable="gaps")
    assert loaded == {"variable": "gaps", "rows": 4, "columns": ["name", "score"]}
    summary = run_procedure(julia, dataset, "describe", path=path, variable="gaps")
    assert summary["columns"] == [
        {"name": "name", "type": "string", "count": 3},
        {"name": "score", "type": "number", "count": 2, "min": 1.5, "max": 4, "mean": 2.75},
    ]
    preview = run_procedure(julia, dataset, "preview", path=path, variable="gaps", rows=4)
    assert preview["rows"] == [["ann", 1.5], [None, None], ["bob", None], ["c, d", 4]]
