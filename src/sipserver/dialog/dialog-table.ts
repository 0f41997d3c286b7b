import { Dialog, dialogId } from './dialog';

/** All dialogs the server holds, found by drachtio dialog id or by an incoming request's tags. */
export class DialogTable<Owner = unknown> {
  private readonly byId = new Map<string, Dialog<Owner>>();
  private readonly byCallId = new Map<string, Set<Dialog<Owner>>>();

  get size(): number {
    return this.byId.size;
  }

  add(dialog: Dialog<Owner>): void {
    this.byId.set(dialog.id, dialog);
    let sameCall = this.byCallId.get(dialog.callId);
    if (!sameCall) this.byCallId.set(dialog.callId, (sameCall = new Set()));
    sameCall.add(dialog);
  }

  get(id: string): Dialog<Owner> | undefined {
    return this.byId.get(id);
  }

  remove(dialog: Dialog<Owner>): void {
    if (this.byId.get(dialog.id) === dialog) this.byId.delete(dialog.id);
    const sameCall = this.byCallId.get(dialog.callId);
    sameCall?.delete(dialog);
    if (sameCall?.size === 0) this.byCallId.delete(dialog.callId);
  }

  /** The dialog a request from the network belongs to: its To tag is ours, its From tag theirs. */
  findForRequest(callId: string, fromTag: string | null, toTag: string | null): Dialog<Owner> | undefined {
    if (!toTag || !fromTag) return undefined;
    const asUas = this.byId.get(dialogId(callId, fromTag));
    if (asUas && asUas.role === 'uas' && asUas.localTag === toTag) return asUas;
    const asUac = this.byId.get(dialogId(callId, toTag));
    if (asUac && asUac.role === 'uac' && asUac.remoteTag === fromTag) return asUac;
    return undefined;
  }

  /** A dialog with this Call-ID (drachtio sends an app request with a known Call-ID inside it). */
  findByCallId(callId: string): Dialog<Owner> | undefined {
    const sameCall = this.byCallId.get(callId);
    return sameCall ? sameCall.values().next().value : undefined;
  }

  all(): IterableIterator<Dialog<Owner>> {
    return this.byId.values();
  }
}
