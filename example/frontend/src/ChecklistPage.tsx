// The signed-in user's tasks: a list channel with optimistic item writes.
// saveItem / createItem / deleteItem show the change at once (`_pending`) and roll it back if the
// server refuses; the confirmed change arrives through the WAL like any other.
import { useMemo, useState, type FormEvent } from "react";
import { channelOptions } from "./auth";
import type { ItemState, TaskState } from "./rx/checklist.interfaces";
import { TaskListChannel } from "./rx/checklist.channels";
import { useChannelState } from "./rx/rxcdc/react";
import { Status } from "./Status";

type Report = (error: unknown) => void;

export function ChecklistPage() {
  const channel = useMemo(() => new TaskListChannel(channelOptions()), []);
  const { state: tasks, status, reason } = useChannelState(channel);
  const [problem, setProblem] = useState("");
  const report: Report = (error) => setProblem(error instanceof Error ? error.message : String(error));

  const addTask = (title: string) => channel.actions.addTask(title).catch(report);

  return (
    <section className="checklist">
      <h2>
        My tasks <Status status={status} reason={reason} />
      </h2>
      {problem && <p className="error">{problem}</p>}
      {tasks.map((task) => (
        <TaskCard key={task._pk} task={task} channel={channel} report={report} />
      ))}
      <OneLineForm placeholder="New task" button="Add task" name="task" onSubmit={addTask} />
    </section>
  );
}

function TaskCard({ task, channel, report }: { task: TaskState; channel: TaskListChannel; report: Report }) {
  const add = (text: string) => channel.createItem(task, { text }).catch(report);
  return (
    <article className="task" data-task-id={task._pk}>
      <h3>{task.title}</h3>
      <ul>
        {task.items.map((item) => (
          <ItemRow key={item._pk} item={item} channel={channel} report={report} />
        ))}
      </ul>
      <OneLineForm placeholder="New item" button="Add" name="item" onSubmit={add} />
    </article>
  );
}

function ItemRow({ item, channel, report }: { item: ItemState; channel: TaskListChannel; report: Report }) {
  const [editing, setEditing] = useState(false);
  const rename = (text: string) => {
    setEditing(false);
    if (text.trim() && text !== item.text) channel.saveItem(item, { text }).catch(report);
  };
  return (
    <li
      data-item-id={item._pk}
      data-done={String(item.done)}
      className={item._pending ? `pending ${item._pending}` : ""}
    >
      <input
        type="checkbox"
        aria-label="done"
        checked={item.done}
        onChange={() => channel.saveItem(item, { done: !item.done }).catch(report)}
      />
      {editing ? (
        <input
          className="rename"
          defaultValue={item.text}
          autoFocus
          onBlur={(event) => rename(event.target.value)}
          onKeyDown={(event) => event.key === "Enter" && rename(event.currentTarget.value)}
        />
      ) : (
        <span className="text" onDoubleClick={() => setEditing(true)}>
          {item.text}
        </span>
      )}
      <button aria-label="rename" onClick={() => setEditing(true)}>
        ✎
      </button>
      <button aria-label="delete" onClick={() => channel.deleteItem(item).catch(report)}>
        ×
      </button>
    </li>
  );
}

function OneLineForm(props: { placeholder: string; button: string; name: string; onSubmit: (text: string) => unknown }) {
  const [text, setText] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!text.trim()) return;
    props.onSubmit(text.trim());
    setText("");
  };
  return (
    <form onSubmit={submit} className="row">
      <input name={props.name} value={text} placeholder={props.placeholder} onChange={(e) => setText(e.target.value)} />
      <button type="submit">{props.button}</button>
    </form>
  );
}
