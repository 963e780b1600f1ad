"""Task arguments that carry customer data: resolved, never rendered as Jinja, shown only as a summary.

Airflow renders every template field recursively and keeps the result for the UI's Rendered
Template view. For rows and customer IDs both are wrong: a string inside a record that happens
to hold ``{{`` is evaluated (a row could pull a connection's password into the data sent, a
``{{SAVE10}}`` coupon code fails the task and prints every record), and the records themselves
would be stored and shown. For the fields an operator names in ``data_fields``,
:class:`DataFieldsMixin` instead

* resolves an XCom reference (``task.output``) or renders a top-level template string (an
  XCom pull, a templated path) exactly as Airflow would;
* leaves everything else as given: nothing inside a list or a dict is rendered;
* keeps the resolved value for :meth:`~DataFieldsMixin.data_value` and puts a short description
  in the field (a count, never the values), which is what Airflow stores and shows.

No Airflow import: the mixin sits before an Airflow operator or sensor in the class bases.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sized
from typing import Any, ClassVar

from airflow_provider_monetate.monetate.privacy._ledger import hash_id

__all__ = ["DataFieldsMixin", "describe_customer_ids", "describe_data"]

_CONTAINERS = (list, tuple, dict, set, frozenset)


def describe_data(value: Any, noun: str = "records") -> Any:
    """What the Rendered Template view shows instead of ``value``: a path as it is, else a count.

    :param value: the resolved argument.
    :param noun: what the items are (``records``, ``customer IDs``, ...).
    """
    if value is None or isinstance(value, str) or callable(getattr(value, "open", None)):
        return None if value is None else str(value)  # a location, not data
    if isinstance(value, Sized) and not isinstance(value, Mapping):
        return f"{len(value)} {noun}"
    if isinstance(value, Iterator):
        return f"{noun} from a one-shot iterable"
    return f"{noun} ({type(value).__name__})"


def describe_customer_ids(value: Any, hashed: bool, shown: int = 3) -> Any:
    """A count of customer IDs; with ``hashed``, also the first few as their SHA-256 (as the ledger stores them)."""
    text = describe_data(value, "customer IDs")
    if not hashed or not isinstance(value, list | tuple) or not value:
        return text
    first = [hash_id(str(item).strip())[:12] + "..." for item in value[:shown] if not isinstance(item, Mapping)]
    return f"{text}, first sha256: {', '.join(first)}" if first else text


class DataFieldsMixin:
    """Template handling for the fields in ``data_fields`` (each also in ``template_fields``).

    Invariant: once Airflow has rendered the task, ``getattr(self, name)`` holds only a
    description and :meth:`data_value` the data; before it (a task executed directly, as in
    tests), :meth:`data_value` returns the argument as given.
    """

    data_fields: ClassVar[tuple[str, ...]] = ()

    def _do_render_template_fields(self, parent: Any, template_fields: Any, context: Any, jinja_env: Any,
                                   seen_oids: set[int]) -> None:
        # Airflow renders a task, mapped or not, through this method (a mapped task calls it on the
        # unmapped copy), so this is the one place that sees every rendering.
        if parent is not self:
            super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)  # type: ignore[misc]
            return
        data = [name for name in template_fields if name in self.data_fields]
        others = [name for name in template_fields if name not in self.data_fields]
        super()._do_render_template_fields(parent, others, context, jinja_env, seen_oids)  # type: ignore[misc]
        self._resolved_data = {name: self.resolve_data(name, getattr(self, name), context, jinja_env) for name in data}
        for name, value in self._resolved_data.items():
            setattr(self, name, self.describe_data(name, value))

    def resolve_data(self, name: str, value: Any, context: Any, jinja_env: Any) -> Any:
        """The value of data field ``name``: an XCom reference resolved, a template string rendered,
        a collection kept as given. Override to resolve one level deeper (a dict of sources)."""
        if value is None or isinstance(value, _CONTAINERS):
            return value
        return self.render_template(value, context, jinja_env)  # type: ignore[attr-defined]

    def describe_data(self, name: str, value: Any) -> Any:
        """What Airflow stores and shows for data field ``name``; override to name the items."""
        return describe_data(value)

    def data_value(self, name: str) -> Any:
        """The data of field ``name``, resolved when the task was rendered, else as given."""
        resolved = getattr(self, "_resolved_data", None)
        if resolved is not None and name in resolved:
            return resolved[name]
        return getattr(self, name)
