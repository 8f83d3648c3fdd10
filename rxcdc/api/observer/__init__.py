"""Observers fed by the replication worker: ``model_observer`` and the instance mixin."""

from rxcdc.api.observer.model_observer import BoundObserver, ModelObserver, model_observer
from rxcdc.api.observer.registry import Action

__all__ = ["Action", "BoundObserver", "ModelObserver", "model_observer"]
