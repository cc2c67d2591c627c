from flask import Blueprint

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz():
    """Liveness for load balancers; touches nothing, so benchmarks also use it as the bare endpoint."""
    return {"status": "ok"}
