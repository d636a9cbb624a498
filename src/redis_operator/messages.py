"""The catalog of Events the operator records on a Redis, in English and Chinese.

Planning and the controller speak in language-neutral `Event`s (a key and arguments); the
language is an operator setting applied only here, when an Event is recorded. The Chinese
reasons and messages reproduce the tutorial's strings exactly where it has them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from redis_operator.api import ChildKind

SOURCE_COMPONENT = "RedisOperator"
"""The Events' `source.component` (`From` in `kubectl describe`), as in the tutorial."""

SECRET_KIND = "secret"
"""The `kind` argument of an Event about the generated password's Secret (not a ChildKind: the
operator creates it but does not watch Secrets)."""

MAX_ERROR_LENGTH = 300
"""Errors are cut to this many characters: an Event says what failed, the log has the rest."""


class Language(StrEnum):
    EN = "en"
    ZH = "zh"


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


class EventKey(StrEnum):
    """What happened; the value is also the English reason."""

    SCALING_UP = "ScalingUp"
    SCALING_DOWN = "ScalingDown"
    SUCCESSFUL_CREATE = "SuccessfulCreate"
    SUCCESSFUL_DELETE = "SuccessfulDelete"
    SUCCESSFUL_UPDATE = "SuccessfulUpdate"
    FAILED_CREATE = "FailedCreate"
    FAILED_DELETE = "FailedDelete"
    FAILED_UPDATE = "FailedUpdate"
    POD_RECREATED = "PodRecreated"
    POD_REPLACED = "PodReplaced"
    POD_FINISHED = "PodFinished"
    NAME_CONFLICT = "NameConflict"
    DELETING = "Deleting"
    PRIMARY_ELECTED = "PrimaryElected"
    REPLICA_ATTACHED = "ReplicaAttached"
    PRIMARY_LOST = "PrimaryLost"
    FAILOVER_COMPLETED = "FailoverCompleted"
    REPLICATION_BROKEN = "ReplicationBroken"
    SWITCHOVER = "Switchover"
    AUTH_SECRET_MISSING = "AuthSecretMissing"
    AUTH_KEY_MISSING = "AuthKeyMissing"
    PASSWORD_CHANGED = "PasswordChanged"


_KIND_NAMES: dict[Language, dict[str, str]] = {
    Language.EN: {ChildKind.POD: "pod", ChildKind.SERVICE: "service", SECRET_KIND: "secret"},
    Language.ZH: {ChildKind.POD: "Pod", ChildKind.SERVICE: "Service", SECRET_KIND: "Secret"},
}


@dataclass(frozen=True)
class _Entry:
    type: EventType
    zh_reason: str
    en: str
    zh: str


# Arguments: name = the Redis, replicas, pods = a count, kind (ChildKind), child = a child's
# name, pod = a pod's name, phase, error, children = a list of `kind/name`, primary = the
# primary pod's name, offset = a replication offset, seconds = a duration, secret = a Secret's
# name, key = a key of it (never a value), label = a label key.
_CATALOG: dict[EventKey, _Entry] = {
    EventKey.SCALING_UP: _Entry(
        EventType.NORMAL,
        "扩容",
        "{name} replicas set to {replicas}",
        "{name} 副本数设置为 {replicas}",
    ),
    EventKey.SCALING_DOWN: _Entry(
        EventType.WARNING,
        "缩容",
        "{name} replicas set to {replicas}",
        "{name} 副本数设置为 {replicas}",
    ),
    EventKey.SUCCESSFUL_CREATE: _Entry(
        EventType.NORMAL, "创建成功", "Created {kind}: {child}", "已创建 {kind}: {child}"
    ),
    EventKey.SUCCESSFUL_DELETE: _Entry(
        EventType.NORMAL, "删除成功", "Deleted {kind}: {child}", "已删除 {kind}: {child}"
    ),
    EventKey.SUCCESSFUL_UPDATE: _Entry(
        EventType.NORMAL, "更新成功", "Updated {kind}: {child}", "已更新 {kind}: {child}"
    ),
    EventKey.FAILED_CREATE: _Entry(
        EventType.WARNING,
        "创建失败",
        "Error creating {kind} {child}: {error}",
        "创建 {kind} {child} 失败: {error}",
    ),
    EventKey.FAILED_DELETE: _Entry(
        EventType.WARNING,
        "删除失败",
        "Error deleting {kind} {child}: {error}",
        "删除 {kind} {child} 失败: {error}",
    ),
    EventKey.FAILED_UPDATE: _Entry(
        EventType.WARNING,
        "更新失败",
        "Error updating {kind} {child}: {error}",
        "更新 {kind} {child} 失败: {error}",
    ),
    EventKey.POD_RECREATED: _Entry(
        EventType.WARNING,
        "重建",
        "Pod {pod} was deleted; recreated it",
        "Pod {pod} 已被删除，已重新创建",
    ),
    EventKey.POD_REPLACED: _Entry(
        EventType.NORMAL,
        "替换",
        "Replacing pod {pod}: its image, port, password, resources or placement do not match "
        "the spec",
        "Pod {pod} 的镜像、端口、密码、资源或调度设置与规格不一致，正在替换",
    ),
    EventKey.POD_FINISHED: _Entry(
        EventType.WARNING,
        "Pod已终止",
        "Pod {pod} is {phase}; deleting it so that it is recreated",
        "Pod {pod} 处于 {phase} 状态，删除后将重新创建",
    ),
    EventKey.NAME_CONFLICT: _Entry(
        EventType.WARNING,
        "名称冲突",
        "Not touching {children}: the names are taken by objects {name} does not control",
        "{children} 的名称已被不属于 {name} 的对象占用，不会修改它们",
    ),
    EventKey.DELETING: _Entry(
        EventType.NORMAL,
        "删除",
        "Deleting {name} and its {pods} pods",
        "删除 {name}",
    ),
    EventKey.PRIMARY_ELECTED: _Entry(
        EventType.NORMAL,
        "选举主节点",
        "{pod} is the primary of {name}",
        "{pod} 成为 {name} 的主节点",
    ),
    EventKey.REPLICA_ATTACHED: _Entry(
        EventType.NORMAL,
        "副本已连接",
        "{pod} replicates from {primary}",
        "{pod} 正在从 {primary} 复制",
    ),
    EventKey.PRIMARY_LOST: _Entry(
        EventType.WARNING,
        "主节点丢失",
        "Primary {pod} is unavailable; failing over unless it returns within {seconds}s",
        "主节点 {pod} 不可用，{seconds} 秒内未恢复将进行故障转移",
    ),
    EventKey.FAILOVER_COMPLETED: _Entry(
        EventType.NORMAL,
        "故障转移完成",
        "Promoted {pod} at offset {offset}",
        "已将 {pod} 提升为主节点，复制偏移量 {offset}",
    ),
    EventKey.REPLICATION_BROKEN: _Entry(
        EventType.WARNING,
        "复制中断",
        "{name} has no primary and no replica answers to promote",
        "{name} 没有主节点，也没有可提升的副本",
    ),
    EventKey.SWITCHOVER: _Entry(
        EventType.NORMAL,
        "主从切换",
        "Switching the primary from {primary} to {pod} at offset {offset}: {primary} is going",
        "主节点由 {primary} 切换到 {pod}，复制偏移量 {offset}：{primary} 即将删除",
    ),
    EventKey.AUTH_SECRET_MISSING: _Entry(
        EventType.WARNING,
        "密码Secret缺失",
        "Secret {secret} not found among the Secrets labelled {label}: create it, or label it",
        "未在带有标签 {label} 的 Secret 中找到 {secret}：请创建它或为它添加该标签",
    ),
    EventKey.AUTH_KEY_MISSING: _Entry(
        EventType.WARNING,
        "密码键缺失",
        "Secret {secret} has no key {key}",
        "Secret {secret} 中没有键 {key}",
    ),
    EventKey.PASSWORD_CHANGED: _Entry(
        EventType.WARNING,
        "密码已更改",
        "The password of {name} changed: replacing all its pods at once (their data is lost)",
        "{name} 的密码已更改：同时替换其全部 Pod（数据将丢失）",
    ),
}


class RenderedEvent(NamedTuple):
    """An Event ready to record: its type, reason and message in one language."""

    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class Event:
    """A language-neutral Event: what happened and the facts to tell."""

    key: EventKey
    args: Mapping[str, str | int] = field(default_factory=dict, hash=False)

    def render(self, language: Language | str) -> RenderedEvent:
        return render(self.key, language, **self.args)


def _short(error: str) -> str:
    error = " ".join(error.split())
    if len(error) <= MAX_ERROR_LENGTH:
        return error
    return error[: MAX_ERROR_LENGTH - 1] + "…"


def render(key: EventKey | str, language: Language | str, /, **args: str | int) -> RenderedEvent:
    """Type, reason and message of an Event in `language`; missing arguments are a KeyError."""
    key, language = EventKey(key), Language(language)
    entry = _CATALOG[key]
    values: dict[str, str | int] = dict(args)
    if "kind" in values:
        values["kind"] = _KIND_NAMES[language][str(values["kind"])]
    if "error" in values:
        values["error"] = _short(str(values["error"]))
    template, reason = (
        (entry.en, key.value) if language is Language.EN else (entry.zh, entry.zh_reason)
    )
    return RenderedEvent(entry.type.value, reason, template.format_map(values))
