/**
 * The call matrix as a table: one row per cell, packets sent and received at each endpoint.
 * "phone" is the calling or called phone; "far end" is the PBX, or the other phone.
 */
export interface Flow {
  sent: number;
  received: number;
}

export interface MatrixRow {
  scenario: string;
  transport: string;
  phone: Flow | null;
  farEnd: Flow | null;
  pass: boolean;
  note: string;
}

/** The share of packets that must arrive each way. */
export const MIN_DELIVERY = 0.95;

/** Whether `to` received enough of what `from` sent. */
export function delivered(from: Flow, to: Flow): boolean {
  return from.sent > 0 && to.received >= Math.ceil(from.sent * MIN_DELIVERY);
}

function flowCell(flow: Flow | null): string {
  return flow ? `${flow.sent}/${flow.received}` : '-';
}

export function formatMatrix(rows: readonly MatrixRow[]): string {
  const table = [
    ['scenario', 'transport', 'phone sent/recv', 'far end sent/recv', 'result', 'note'],
    ...rows.map((row) => [
      row.scenario,
      row.transport,
      flowCell(row.phone),
      flowCell(row.farEnd),
      row.pass ? 'pass' : 'FAIL',
      row.note,
    ]),
  ];
  const widths = table[0].map((_, column) => Math.max(...table.map((line) => line[column].length)));
  return table
    .map((line) =>
      line
        .map((cell, column) => cell.padEnd(widths[column]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
