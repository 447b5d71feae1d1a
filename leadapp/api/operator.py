"""Operator endpoints: the CSV export and the statistics, thin views over their services."""

from __future__ import annotations

from flask import Blueprint, Response, g, stream_with_context

from leadapp.api.parsing import query_args
from leadapp.api.responses import DATABASE, QUERY, responds
from leadapp.http.authentication import require_api_key
from leadapp.schemas.operator import ExportArgsSchema, StatsArgsSchema, StatsSchema
from leadapp.services import export, stats
from leadapp.timeutil import utcnow

bp = Blueprint("operator", __name__)

export_args_schema = ExportArgsSchema()
stats_args_schema = StatsArgsSchema()
stats_schema = StatsSchema()


@bp.get("/leads/export.csv")
@responds(200, *QUERY, *DATABASE)
@require_api_key
def export_csv():
    """Every lead (or those of a range, or of a form), oldest first, as a streamed CSV download."""
    args = query_args(export_args_schema)
    chunks = export.open_export(
        g.api_key, args.get("start"), args.get("end"), form=args.get("form")
    )
    filename = "leads-" + utcnow().strftime("%Y%m%dT%H%M%SZ") + ".csv"
    return Response(
        stream_with_context(chunks),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/stats")
@responds(200, *QUERY, *DATABASE)
@require_api_key
def get_stats():
    """Leads and spam per UTC day, leads per source and per form, over the last `days` days."""
    args = query_args(stats_args_schema)
    return stats_schema.dump(stats.daily_stats(args["days"], form=args.get("form")))
