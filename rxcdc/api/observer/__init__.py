"""Observers: ``model_observer`` (fed by the replication worker), ``observer`` (a Django signal)."""

from rxcdc.api.observer.base import BaseObserver, BoundObserver
from rxcdc.api.observer.model_observer import ModelObserver, model_observer
from rxcdc.api.observer.registry import Action
from rxcdc.api.observer.signals import SignalObserver, observer

__all__ = [
    "Action",
    "BaseObserver",
    "BoundObserver",
    "ModelObserver",
    "SignalObserver",
    "model_observer",
    "observer",
]
