"""Record Kubernetes Events the way client-go's ``tools/record`` does, and then some.

Importable on its own: it needs ``prometheus_client`` for its counters, and imports an API
client only where one is used: ``kubernetes_asyncio`` (``KubernetesSink``), the official
``kubernetes`` client (``SyncKubernetesSink``), kopf (``event_recorder.kopf``). See
``docs/event-recorder.md``.
"""

from event_recorder.background import BackgroundBroadcaster
from event_recorder.broadcaster import EventBroadcaster
from event_recorder.correlator import COMBINED_PREFIX, Correlator
from event_recorder.event import NORMAL, WARNING, EventDraft
from event_recorder.events_v1 import EventsV1Recorder, SeriesCorrelator
from event_recorder.fake import FakeRecorder
from event_recorder.metrics import RecorderMetrics, metrics_for
from event_recorder.options import RecorderOptions
from event_recorder.recorder import CoreV1Recorder, EventRecorder
from event_recorder.reference import InvalidObjectError, ObjectReference, reference_for
from event_recorder.sink import (
    ApiStatusError,
    InMemorySink,
    KubernetesSink,
    Sink,
    SinkCall,
    SinkError,
    TransportError,
)
from event_recorder.sync_client import SyncKubernetesSink
from event_recorder.writes import Decision, EventAPI, Verb, Verdict, Write

__all__ = [
    "COMBINED_PREFIX",
    "NORMAL",
    "WARNING",
    "ApiStatusError",
    "BackgroundBroadcaster",
    "CoreV1Recorder",
    "Correlator",
    "Decision",
    "EventAPI",
    "EventBroadcaster",
    "EventDraft",
    "EventRecorder",
    "EventsV1Recorder",
    "FakeRecorder",
    "InMemorySink",
    "InvalidObjectError",
    "KubernetesSink",
    "ObjectReference",
    "RecorderMetrics",
    "RecorderOptions",
    "SeriesCorrelator",
    "Sink",
    "SinkCall",
    "SinkError",
    "SyncKubernetesSink",
    "TransportError",
    "Verb",
    "Verdict",
    "Write",
    "metrics_for",
    "reference_for",
]
