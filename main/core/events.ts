import type { EventMessage, EventName, Events } from '../../shared/contract/index.ts';

export type EventListener = (message: EventMessage) => void;

/** The core's one event bus; every host forwards what it emits. */
export class EventBus {
  #listeners = new Set<EventListener>();

  on(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit<E extends EventName>(event: E, data: Events[E]): void {
    const message = { event, data } as EventMessage;
    for (const listener of this.#listeners) {
      try {
        listener(message);
      } catch (err) {
        console.error('event listener failed', err);
      }
    }
  }
}
