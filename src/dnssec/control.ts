/** `verdict ctl nta list|add NAME|remove NAME`: negative trust anchors at run time (RFC 7646). */
import { nameFromText, nameToText } from '../dns/name.js';
import type { ControlHandler } from '../control/server.js';
import type { TrustAnchorStore } from './anchors.js';

export function ntaControlHandlers(store: TrustAnchorStore, onChange: () => void): { nta: ControlHandler } {
  return {
    nta: (args) => {
      const [op, text] = args;
      const list = () => store.negatives().map(nameToText).sort();
      if (op === undefined || op === 'list') return { negative_trust_anchors: list() };
      if ((op !== 'add' && op !== 'remove') || !text) throw new Error('usage: nta list | nta add NAME | nta remove NAME');
      const name = nameFromText(text.endsWith('.') ? text : text + '.');
      if (op === 'add') store.addNegative(name);
      else if (!store.removeNegative(name)) throw new Error(`${nameToText(name)} is not a negative trust anchor`);
      onChange();
      return { [op === 'add' ? 'added' : 'removed']: nameToText(name), negative_trust_anchors: list() };
    },
  };
}
