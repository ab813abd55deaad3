import { v7 as uuidv7 } from 'uuid';
import { addNodeOperation } from '../helpers/collaboration.js';
import type { TestSocket } from '../helpers/socket.js';

/** One operation the editor made, as its own socket confirmed it. */
export interface Edit {
  operation_id: string;
  sequence_number: number;
  /** Date.now() when it was sent. */
  sentAt: number;
}

/**
 * A collaborator editing a diagram at a steady pace: every `everyMs` one node added, each sent
 * once the previous one was confirmed on the editor's own socket (its room, on its instance,
 * hears its own commits without Redis). Each is built on the last sequence number it knows.
 */
export class DiagramEdits {
  readonly confirmed: Edit[] = [];
  private running = true;
  private failure: unknown = null;
  private readonly loop: Promise<void>;

  constructor(private readonly editor: TestSocket, private base: number, private readonly everyMs: number) {
    this.loop = this.run().catch((err: unknown) => { this.failure = err; });
  }

  private async run(): Promise<void> {
    while (this.running) {
      const id = uuidv7();
      const sentAt = Date.now();
      this.editor.send(addNodeOperation(this.base, uuidv7(), `edit ${this.confirmed.length}`, id));
      const event = await this.editor.next('diagram_operation_event', (m) => m.operation_id === id, 15_000);
      this.base = event.sequence_number as number;
      this.confirmed.push({ operation_id: id, sequence_number: this.base, sentAt });
      await new Promise((r) => setTimeout(r, this.everyMs));
    }
  }

  /** The last confirmed sequence number (the base it started on before any). */
  get last(): number {
    return this.base;
  }

  /** Stops after the operation in flight; a confirmation that never came fails here. */
  async stop(): Promise<Edit[]> {
    this.running = false;
    await this.loop;
    if (this.failure) throw this.failure;
    return this.confirmed;
  }
}

/**
 * How many diagram events reached this instance's sockets through the feed: events carry the
 * time they were published, so only those are timed by the fan-out histogram; what a room read
 * from PostgreSQL (a gap filled, its head check) is not. On an instance that makes no operations
 * itself, that is what came by Redis from the others.
 */
export async function fannedOut(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const count = /^tmi_realtime_fanout_seconds_count (\d+)$/m.exec(text);
  if (!count) throw new Error(`no tmi_realtime_fanout_seconds_count in ${url}/metrics`);
  return Number(count[1]);
}
